/**
 * Push Outbox (seed §3.2) and real-time push: extract what each enabled consumer selects, through
 * the core access methods as the consumer's user (the policy applies), keep what changed since the
 * consumer's cursor, rename with its id mapping, pack it (SenML, shared base fields, split under the
 * stanza limit) and write the Outbox rows in one statement. The cursor moves only after the rows
 * are committed; message ids are derived from the consumer and the pack, so a run repeated after a
 * crash between the two writes inserts nothing new (ON CONFLICT DO NOTHING on the message id).
 */
import { createHash } from "node:crypto";
import type { Clock, Logger } from "../../core/ports.js";
import type { FederationCounters } from "../counters.js";
import type { Directory } from "../directory.js";
import { mapName, validateMapping } from "../id-mapping.js";
import type { LocalSystem } from "../local-system.js";
import { Mutex } from "../mutex.js";
import { packRecords } from "../pack.js";
import { pathOf, type FederatedRecord } from "../records.js";
import { parseSelector, type ResourceName } from "../selector.js";
import type { AppStore, Consumer, ConsumerStore, NewOutboxMessage, OutboxStore } from "../stores.js";

export interface PushOutboxReport {
  consumers: number;
  records: number;
  messages: number;
  failed: { consumerId: number; code: string; message: string }[];
}

export interface OutboxWriterDeps {
  consumers: ConsumerStore;
  apps: AppStore;
  outbox: OutboxStore;
  directory: Directory;
  local: LocalSystem;
  clock: Clock;
  logger: Logger;
  counters: FederationCounters;
  stanzaLimit: () => number;
  /** Called after rows were committed (kicks the sender). */
  onQueued: () => void;
}

/**
 * The cursor of a consumer: the newest timestamp it has sent (high-water mark). A full sweep (first
 * run after a start) sends what is newer; between sweeps the change feed says what changed, so a
 * value that arrives late with an older timestamp is still sent.
 */
export interface Cursor {
  hw: number;
}

export function readCursor(raw: unknown): Cursor {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const hw = (raw as { hw?: unknown }).hw;
    if (typeof hw === "number") return { hw };
  }
  return { hw: -Infinity };
}

export function writeCursor(cursor: Cursor): unknown {
  return Number.isFinite(cursor.hw) ? { hw: cursor.hw } : {};
}

export function messageIdFor(consumerId: number, body: string): string {
  return `c${consumerId}-${createHash("sha256").update(body).digest("hex").slice(0, 32)}`;
}

export class OutboxWriter {
  private readonly locks = new Map<number, Mutex>();
  private realtime: Consumer[] = [];
  private realtimeLoadedAt = -Infinity;
  private readonly pendingPaths = new Map<number, Map<string, ResourceName>>();
  private flushScheduled = false;
  private unwatch: (() => void) | null = null;
  private reloading: Promise<void> | null = null;
  private watching = false;
  private realtimeOn = false;
  /** Changed resources since the last push-outbox run. */
  private readonly dirty = new Map<string, ResourceName>();
  /** Consumers swept in full since start; others need a full sweep. */
  private readonly swept = new Set<number>();
  private readonly needsSweep = new Set<number>();
  /** Newest high-water mark written per consumer (the realtime path holds older rows). */
  private readonly hw = new Map<number, number>();
  private readonly awaitingList: ResourceName[] = [];
  private inFlight = new Set<Promise<unknown>>();

  constructor(private readonly deps: OutboxWriterDeps) {}

  private lock(id: number): Mutex {
    let m = this.locks.get(id);
    if (!m) {
      m = new Mutex();
      this.locks.set(id, m);
    }
    return m;
  }

  /**
   * Runs every enabled consumer (filter: only those the caller wants, e.g. default-schedule ones).
   * While changes are tracked (watch()), a consumer reads only the resources changed since the
   * previous run; its first run after start, a run after a failure, and consumers with their own
   * schedule sweep the whole selection (the cursor keeps what was sent out).
   */
  async run(filter: (c: Consumer) => boolean = () => true): Promise<PushOutboxReport> {
    const report: PushOutboxReport = { consumers: 0, records: 0, messages: 0, failed: [] };
    const changed = [...this.dirty.values()];
    this.dirty.clear();
    let consumers: Consumer[];
    try {
      consumers = await this.deps.consumers.list({ enabled: true });
    } catch (e) {
      // Nothing was extracted (database down, R5): the changes wait for the next run.
      for (const name of changed) this.dirty.set(pathOf(name), name);
      throw e;
    }
    this.realtime = consumers.filter((c) => c.realtime);
    this.realtimeLoadedAt = this.deps.clock.now();
    for (const c of consumers) {
      if (!filter(c)) continue;
      report.consumers++;
      const full =
        !this.watching || !this.swept.has(c.id) || this.needsSweep.has(c.id) || c.schedule !== null;
      // A realtime consumer already sent each change as it happened (a failure there asks for a sweep).
      if (!full && c.realtime && this.realtimeOn) continue;
      try {
        const r = await this.lock(c.id).run(() => this.extract(c.id, full ? undefined : changed));
        this.swept.add(c.id);
        this.needsSweep.delete(c.id);
        report.records += r.records;
        report.messages += r.messages;
      } catch (e) {
        this.needsSweep.add(c.id);
        const err = e as { code?: unknown; message?: unknown };
        report.failed.push({
          consumerId: c.id,
          code: typeof err.code === "string" ? err.code : "RELAIS_ERR_INTERNAL_BUG",
          message: String(err.message),
        });
        this.deps.logger.warn({ err: e, consumerId: c.id }, "push-outbox failed for a consumer");
      }
    }
    if (report.messages > 0) this.deps.onQueued();
    return report;
  }

  /**
   * One consumer's extraction. With `only`, just those resources (real time); else the whole selection.
   * Reads the consumer again under its lock so the cursor is the committed one.
   */
  private async extract(
    consumerId: number,
    only?: Iterable<ResourceName>,
    known?: Consumer,
  ): Promise<{ records: number; messages: number }> {
    const { deps } = this;
    // Real time passes the consumer row it already holds (one round trip less on the hot path).
    const consumer = known ?? (await deps.consumers.get(consumerId));
    if (!consumer || !consumer.enabled) return { records: 0, messages: 0 };
    const identity = await deps.directory.identityOfUserApp(consumer.userAppId);
    const target = await deps.directory.appById(consumer.consumerAppId);
    if (!target) return { records: 0, messages: 0 };
    const selector = parseSelector(consumer.selector);
    const mapping = validateMapping(consumer.mapping);
    const cursor = readCursor(consumer.cursor);
    cursor.hw = Math.max(cursor.hw, this.hw.get(consumer.id) ?? -Infinity);
    let current: FederatedRecord[];
    if (only) {
      current = [];
      for (const name of only) {
        if (!selector.matches(name)) continue;
        const r = deps.local.readOne(identity.principal, name);
        if (r) current.push(r);
      }
    } else {
      current = deps.local.read(identity.principal, selector);
    }
    const changed = only ? current : current.filter((r) => r.timestamp > cursor.hw);
    const now = deps.clock.now();
    if (changed.length === 0) {
      if (!only) await deps.consumers.recordRun(consumer.id, now, writeCursor(cursor));
      return { records: 0, messages: 0 };
    }
    const mapped = changed.map((r) => {
      const out: FederatedRecord = { ...mapName(mapping, r), value: r.value, timestamp: r.timestamp };
      if (r.unit !== undefined) out.unit = r.unit;
      return out;
    });
    const packs = packRecords(mapped, deps.stanzaLimit());
    const messages: NewOutboxMessage[] = packs.map((p) => ({
      messageId: messageIdFor(consumer.id, p.body),
      consumerId: consumer.id,
      toJid: target.jid,
      federatedUser: identity.federatedId,
      body: p.body,
      recordCount: p.records,
    }));
    await deps.outbox.enqueue(messages);
    deps.onQueued(); // durable: the sender may go
    for (const r of changed) if (r.timestamp > cursor.hw) cursor.hw = r.timestamp;
    this.hw.set(consumer.id, cursor.hw);
    await deps.consumers.recordRun(consumer.id, now, writeCursor(cursor));
    deps.counters.recordsQueued += changed.length;
    deps.counters.messagesQueued += messages.length;
    return { records: changed.length, messages: messages.length };
  }

  /**
   * Tracks changes of the local system: push-outbox then reads only what changed, and, with
   * `realtime`, each change of a resource a realtime consumer selects goes to the Outbox at once.
   */
  watch(realtime: boolean): void {
    if (this.unwatch) return;
    this.watching = true;
    this.realtimeOn = realtime;
    this.unwatch = this.deps.local.onChange((name) => {
      this.dirty.set(pathOf(name), name);
      if (realtime) this.onChange(name);
    });
  }

  async unwatchAndDrain(): Promise<void> {
    this.unwatch?.();
    this.unwatch = null;
    this.watching = false;
    this.swept.clear();
    this.dirty.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Forget the cached list of realtime consumers (after an admin change). */
  refresh(): void {
    this.realtimeLoadedAt = -Infinity;
  }

  /** Loads the realtime consumers now (at start, so the first change is not missed). */
  async loadRealtime(): Promise<void> {
    const cs = await this.deps.consumers.list({ enabled: true });
    this.realtime = cs.filter((c) => c.realtime);
    this.realtimeLoadedAt = this.deps.clock.now();
  }

  private onChange(name: ResourceName): void {
    if (this.deps.clock.now() - this.realtimeLoadedAt > 5_000 || this.reloading !== null) {
      // The list of realtime consumers is stale: reload it, then route the changes seen meanwhile.
      this.awaitingList.push(name);
      if (this.reloading === null) {
        this.reloading = this.loadRealtime().finally(() => {
          this.reloading = null;
          const names = this.awaitingList.splice(0);
          for (const n of names) this.route(n);
        });
        this.track(this.reloading);
      }
      return;
    }
    this.route(name);
  }

  private route(name: ResourceName): void {
    for (const c of this.realtime) {
      if (!parseSelectorCached(c.selector).matches(name)) continue;
      let paths = this.pendingPaths.get(c.id);
      if (!paths) {
        paths = new Map();
        this.pendingPaths.set(c.id, paths);
      }
      paths.set(pathOf(name), name);
    }
    if (this.pendingPaths.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flushRealtime();
      });
    }
  }

  private flushRealtime(): void {
    const batches = [...this.pendingPaths];
    this.pendingPaths.clear();
    for (const [consumerId, paths] of batches) {
      const known = this.realtime.find((c) => c.id === consumerId);
      this.track(
        this.lock(consumerId)
          .run(() => this.extract(consumerId, paths.values(), known))
          .then(
            (r) => {
              if (r.messages > 0) this.deps.onQueued();
            },
            (e: unknown) => {
              this.needsSweep.add(consumerId);
              throw e;
            },
          ),
      );
    }
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((e: unknown) => {
      this.deps.logger.warn({ err: e }, "real-time push failed; the next push-outbox run sends it");
    });
    this.inFlight.add(t);
    void t.finally(() => this.inFlight.delete(t));
  }
}

const selectorCache = new Map<string, ReturnType<typeof parseSelector>>();
function parseSelectorCached(source: string): ReturnType<typeof parseSelector> {
  let s = selectorCache.get(source);
  if (!s) {
    try {
      s = parseSelector(source);
    } catch {
      s = { source, matches: () => false, matchesProvider: () => false };
    }
    if (selectorCache.size > 1000) selectorCache.clear();
    selectorCache.set(source, s);
  }
  return s;
}
