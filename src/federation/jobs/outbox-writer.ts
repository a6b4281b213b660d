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

/** The cursor of a consumer: last sent timestamp per source resource path. */
export type Cursor = Map<string, number>;

export function readCursor(raw: unknown): Cursor {
  const out: Cursor = new Map();
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const sent = (raw as { sent?: unknown }).sent;
    if (sent !== null && typeof sent === "object") {
      for (const [k, v] of Object.entries(sent as Record<string, unknown>)) {
        if (typeof v === "number") out.set(k, v);
      }
    }
  }
  return out;
}

export function writeCursor(cursor: Cursor): unknown {
  return { sent: Object.fromEntries(cursor) };
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

  /** Runs every enabled consumer (filter: only those the caller wants, e.g. default-schedule ones). */
  async run(filter: (c: Consumer) => boolean = () => true): Promise<PushOutboxReport> {
    const report: PushOutboxReport = { consumers: 0, records: 0, messages: 0, failed: [] };
    const consumers = await this.deps.consumers.list({ enabled: true });
    this.realtime = consumers.filter((c) => c.realtime);
    this.realtimeLoadedAt = this.deps.clock.now();
    for (const c of consumers) {
      if (!filter(c)) continue;
      report.consumers++;
      try {
        const r = await this.lock(c.id).run(() => this.extract(c.id));
        report.records += r.records;
        report.messages += r.messages;
      } catch (e) {
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
  ): Promise<{ records: number; messages: number }> {
    const { deps } = this;
    const consumer = await deps.consumers.get(consumerId);
    if (!consumer || !consumer.enabled) return { records: 0, messages: 0 };
    const identity = await deps.directory.identityOfUserApp(consumer.userAppId);
    const target = await deps.apps.get(consumer.consumerAppId);
    if (!target) return { records: 0, messages: 0 };
    const selector = parseSelector(consumer.selector);
    const mapping = validateMapping(consumer.mapping);
    const cursor = readCursor(consumer.cursor);
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
    const changed = current.filter((r) => r.timestamp > (cursor.get(pathOf(r)) ?? -Infinity));
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
    for (const r of changed) cursor.set(pathOf(r), r.timestamp);
    await deps.consumers.recordRun(consumer.id, now, writeCursor(cursor));
    deps.counters.recordsQueued += changed.length;
    deps.counters.messagesQueued += messages.length;
    return { records: changed.length, messages: messages.length };
  }

  /** Real-time push: each change of a resource a realtime consumer selects goes to the Outbox at once. */
  watch(): void {
    if (this.unwatch) return;
    this.unwatch = this.deps.local.onChange((name) => {
      this.onChange(name);
    });
  }

  async unwatchAndDrain(): Promise<void> {
    this.unwatch?.();
    this.unwatch = null;
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
    if (this.deps.clock.now() - this.realtimeLoadedAt > 5_000) {
      this.realtimeLoadedAt = this.deps.clock.now();
      this.track(
        this.deps.consumers.list({ enabled: true }).then((cs) => {
          this.realtime = cs.filter((c) => c.realtime);
          // Changes seen before the list arrived were queued under the old list; the periodic run covers gaps.
        }),
      );
    }
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
      this.track(
        this.lock(consumerId)
          .run(() => this.extract(consumerId, paths.values()))
          .then((r) => {
            if (r.messages > 0) this.deps.onQueued();
          }),
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
