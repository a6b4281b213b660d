/**
 * Two-gateway assemblies for the federation integration and fault tests: each gateway is a core
 * Gateway + FederationNode over its own fresh PostgreSQL database (storage harness) and an
 * XmppTransport to a real ejabberd (XMPP harness). Crashes are simulated the way kill -9 looks
 * from outside: the database connection refuses every further statement at once (nothing more is
 * committed, unflushed values are lost), the XMPP stream is cut without a goodbye, and a new
 * instance is assembled on the same database.
 */
import { randomBytes } from "node:crypto";
import { SecretBox } from "../../src/adapters/crypto/secret-box.js";
import { PgDatabase } from "../../src/adapters/postgres/pg-database.js";
import { createPgStores } from "../../src/adapters/postgres/pg-stores.js";
import type { Database, Queryable, QueryResult } from "../../src/adapters/postgres/database.js";
import { XmppTransport } from "../../src/adapters/xmpp/xmpp-transport.js";
import { RelaisError } from "../../src/core/errors.js";
import { Gateway } from "../../src/core/gateway.js";
import type { ModelEvent } from "../../src/core/model/types.js";
import {
  silentLogger,
  systemClock,
  type FederationStanza,
  type InboundVerdict,
  type OutgoingStanza,
  type Transport,
  type TransportState,
  type TransportEvents,
} from "../../src/core/ports.js";
import { InsecureTestCrypto } from "../../src/core/testing/fakes.js";
import { FederationNode, type FederationOptions } from "../../src/federation/federation-node.js";
import { PgJobLock } from "../../src/federation/jobs/job-lock.js";
import type { OutboxStatus, OutboxStore } from "../../src/federation/stores.js";
import { FIXTURE_OWNER } from "../../src/federation/testing/fixtures.js";
import { freshDatabase, type FreshDatabase } from "../support/postgres.js";

export type DataEvent = Extract<ModelEvent, { kind: "DATA" }>;

/** A Database that can be "killed": every later statement fails at once, as after kill -9. */
export class KillableDatabase implements Database {
  readonly kind = "postgres" as const;
  private dead = false;
  constructor(private readonly inner: Database) {}
  kill(): void {
    this.dead = true;
    void this.inner.close().catch(() => undefined);
  }
  private check(): void {
    if (this.dead) throw new RelaisError("RELAIS_ERR_DB_UNAVAILABLE", "killed");
  }
  async query<T = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<T>> {
    this.check();
    return this.inner.query<T>(sql, params);
  }
  async exec(sql: string): Promise<void> {
    this.check();
    return this.inner.exec(sql);
  }
  async transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
    this.check();
    return this.inner.transaction(async (tx) => {
      const guarded: Queryable = {
        query: async (sql, params) => {
          this.check();
          return tx.query(sql, params);
        },
        exec: async (sql) => {
          this.check();
          return tx.exec(sql);
        },
      };
      const r = await fn(guarded);
      this.check(); // no COMMIT after the kill
      return r;
    });
  }
  async close(): Promise<void> {
    this.dead = true;
    await this.inner.close();
  }
}

/** Fault injection around a Transport: hooks on inbound verdicts and outbound sends. */
export class FaultTransport implements Transport {
  private handlers: Partial<TransportEvents> = {};
  /** Called with each verdict before it is answered; return false to answer nothing (crash). */
  beforeAnswer: ((s: FederationStanza, v: InboundVerdict) => boolean) | null = null;
  /** Called when a message arrives, before the handler (throwing: no answer, as a crashing handler). */
  arrived: ((s: FederationStanza) => void) | null = null;
  /** Called with every state change of the XMPP stream (dead-link detection, R2). */
  stateChanged: ((s: TransportState) => void) | null = null;
  /** Called after each successful send; send() resolves only when its promise does. */
  afterSend: ((s: OutgoingStanza) => Promise<void> | void) | null = null;
  cut = false;
  /** Receipts to lose once (as when the server did not keep them for a dead session). */
  readonly dropReceipts = new Set<string>();

  constructor(readonly inner: XmppTransport) {
    inner.on("message", async (s) => {
      this.arrived?.(s);
      const h = this.handlers.message;
      if (!h || this.cut) throw new RelaisError("RELAIS_ERR_FED_APPLY_FAILED", "no handler");
      const v = await h(s);
      if (this.cut || (this.beforeAnswer && !this.beforeAnswer(s, v))) {
        throw new RelaisError("RELAIS_ERR_FED_APPLY_FAILED", "crashed before answering");
      }
      return v;
    });
    inner.on("receipt", (id, from) => {
      if (this.dropReceipts.delete(id)) return;
      if (!this.cut) this.handlers.receipt?.(id, from);
    });
    inner.on("bounce", (id, from, c, t) => {
      if (!this.cut) this.handlers.bounce?.(id, from, c, t);
    });
    inner.on("state", (st) => {
      this.stateChanged?.(st);
      if (!this.cut) this.handlers.state?.(st);
    });
  }
  get jid(): string {
    return this.inner.jid;
  }
  get state() {
    return this.cut ? ("offline" as const) : this.inner.state;
  }
  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): void {
    this.handlers[event] = handler;
  }
  start(): Promise<void> {
    return this.inner.start();
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
  /** Called before each send; true: this is the last thing the instance does (it hears nothing after). */
  lastSend: ((s: OutgoingStanza) => boolean) | null = null;

  /** Awaited before each send (a stalled stream: the write does not complete meanwhile). */
  beforeSend: ((s: OutgoingStanza) => Promise<void> | void) | null = null;

  async send(s: OutgoingStanza): Promise<void> {
    if (this.cut) throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE", "crashed");
    await this.beforeSend?.(s);
    if (this.cut || this.inner.state !== "online")
      throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE", "stalled, then gone");
    if (this.lastSend?.(s)) this.cut = true;
    await this.inner.send(s);
    await this.afterSend?.(s);
  }

  async confirm(): Promise<void> {
    if (this.cut) throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE", "crashed");
    await this.inner.confirm();
  }

  get lastStreamError(): string | null {
    return this.inner.lastStreamError;
  }
}

export interface Instance {
  gateway: Gateway;
  node: FederationNode;
  transport: FaultTransport;
  db: KillableDatabase;
  stores: ReturnType<typeof createPgStores>;
  events: DataEvent[];
}

export interface GatewaySpec {
  name: string;
  jid: string;
  password: string;
  service: string;
  dbUrl: string;
  key?: Uint8Array;
  options?: Partial<FederationOptions>;
  /** Keep every DATA event for the checker (default). A soak turns it off: it grows by the record. */
  recordEvents?: boolean;
}

/**
 * One gateway on its own database; `start()` builds a new instance (same database, same JID and
 * resource), `crash()` kills the current one, `stop()` shuts it down cleanly.
 */
export class GatewayUnderTest {
  readonly key: Uint8Array;
  current: Instance | null = null;
  readonly generations: Instance[] = [];

  constructor(readonly spec: GatewaySpec) {
    this.key = spec.key ?? randomBytes(32);
  }

  get jid(): string {
    return this.spec.jid;
  }

  get i(): Instance {
    if (!this.current) throw new Error(`${this.spec.name} is not running`);
    return this.current;
  }

  /** Receipts the next instance loses (see FaultTransport.dropReceipts). */
  readonly dropReceiptsNext = new Set<string>();

  async start(): Promise<Instance> {
    const db = new KillableDatabase(
      new PgDatabase(this.spec.dbUrl, { max: 16, applicationName: this.spec.name }),
    );
    const stores = createPgStores(db, new SecretBox(this.key));
    const gateway = new Gateway({
      clock: systemClock,
      crypto: new InsecureTestCrypto(),
      valueStore: stores.values,
      securityStore: stores.security,
      flushIntervalMs: 100,
    });
    await gateway.start();
    const events: DataEvent[] = [];
    if (this.spec.recordEvents !== false) {
      gateway.onEvent((e) => {
        if (e.kind === "DATA") events.push(e);
      });
    }
    const xmpp = new XmppTransport({
      service: this.spec.service,
      jid: this.spec.jid,
      password: this.spec.password,
      resource: "relais",
      backoff: { initialMs: 100, maxMs: 1_000 },
      logger: silentLogger,
    });
    const transport = new FaultTransport(xmpp);
    for (const id of this.dropReceiptsNext) transport.dropReceipts.add(id);
    this.dropReceiptsNext.clear();
    const node = new FederationNode({
      gateway,
      stores,
      transport,
      jobLock: new PgJobLock(db),
      instanceId: `${this.spec.name}-instance`,
      options: { scheduleJobs: false, ...this.spec.options },
    });
    await node.start();
    await xmpp.whenOnline(15_000);
    const inst: Instance = { gateway, node, transport, db, stores, events };
    this.current = inst;
    this.generations.push(inst);
    return inst;
  }

  /** kill -9 as seen from outside: database gone at once, stream cut, nothing flushed. */
  async crash(): Promise<void> {
    const inst = this.current;
    if (!inst) return;
    this.current = null;
    inst.db.kill();
    inst.transport.cut = true;
    // Cut the TCP stream without a closing handshake of ours mattering: stop() is the only handle.
    await inst.transport.inner.stop().catch(() => undefined);
    await inst.node.stop().catch(() => undefined);
    await inst.gateway.stop().catch(() => undefined);
  }

  async stop(): Promise<void> {
    const inst = this.current;
    if (!inst) return;
    this.current = null;
    await inst.node.stop();
    await inst.gateway.stop();
    await inst.db.close();
  }

  /** Every DATA event of every generation. */
  allEvents(): DataEvent[] {
    return this.generations.flatMap((g) => g.events);
  }
}

/** Seeds `n` distinct resources on a gateway (data-first, as the OWNER). */
export function seedRecords(
  gw: Gateway,
  from: number,
  n: number,
  opts: { provider?: (i: number) => string; t0?: number } = {},
): { uri: string; value: number; timestamp: number }[] {
  const t0 = opts.t0 ?? 1_700_000_000_000;
  const provider = opts.provider ?? ((i: number) => `dev-${Math.floor(i / 100)}`);
  const updates = Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { provider: provider(i), service: "s", resource: `r${i}`, value: i + 0.25, timestamp: t0 + i };
  });
  const r = gw.applyUpdates(FIXTURE_OWNER, updates);
  if (r.rejected.length > 0) throw new Error(`seed rejected: ${JSON.stringify(r.rejected[0])}`);
  return updates.map((u) => ({
    uri: `/${u.provider}/${u.service}/${u.resource}`,
    value: u.value,
    timestamp: u.timestamp,
  }));
}

export interface CheckResult {
  accepted: number;
  present: number;
  lost: number;
  unexpected: number;
  duplicateApplies: number;
  inboxDuplicates: number;
}

/**
 * Jepsen-style checker: every record A accepted (its Outbox bodies, renamed by the mapping) must be
 * in B's durable model exactly once. lost: accepted but absent from B's ValueStore; unexpected: in B
 * under the mapped prefix but never accepted; duplicate applies: DATA events that re-applied a value B
 * already held (same timestamp), or a second event for the same record within one B instance.
 */
export async function check(
  accepted: Map<string, { value: unknown; timestamp: number }>,
  b: GatewayUnderTest,
  prefix: string,
): Promise<CheckResult> {
  const stored = await b.i.stores.values.loadAll();
  const inB = new Map<string, (typeof stored)[number]>(
    stored
      .filter((s) => s.provider.startsWith(prefix) && s.timestamp !== null && s.service !== "admin")
      .map((s) => [`/${s.provider}/${s.service}/${s.resource}`, s] as const),
  );
  let lost = 0;
  let present = 0;
  for (const [uri, rec] of accepted) {
    const s = inB.get(uri);
    if (s && s.timestamp === rec.timestamp && s.value === rec.value) present++;
    else lost++;
  }
  let unexpected = 0;
  for (const uri of inB.keys()) if (!accepted.has(uri)) unexpected++;
  let duplicateApplies = 0;
  for (const g of b.generations) {
    const seen = new Set<string>();
    for (const e of g.events) {
      if (!e.provider.startsWith(prefix)) continue;
      const k = `${e.uri}@${e.timestamp}`;
      if (seen.has(k) || e.oldTimestamp === e.timestamp) duplicateApplies++;
      seen.add(k);
    }
  }
  return {
    accepted: accepted.size,
    present,
    lost,
    unexpected,
    duplicateApplies,
    inboxDuplicates: b.generations.reduce((n, g) => n + g.node.counters.duplicates, 0),
  };
}

/** Records A accepted: decoded from every Outbox row it holds (any status). */
export async function acceptedRecords(
  a: GatewayUnderTest,
): Promise<Map<string, { value: unknown; timestamp: number }>> {
  return acceptedFromOutbox(a.i.stores.outbox);
}

/**
 * The same from any Outbox (a gateway built by the composition root); `status` keeps only the
 * rows in those states (e.g. without the dead letters of a poison-message test).
 */
export async function acceptedFromOutbox(
  outbox: Pick<OutboxStore, "list">,
  status?: OutboxStatus[],
): Promise<Map<string, { value: unknown; timestamp: number }>> {
  const { recordsFromBody } = await import("../../src/federation/records.js");
  const out = new Map<string, { value: unknown; timestamp: number }>();
  let afterId = 0;
  for (;;) {
    const rows = await outbox.list({ afterId, limit: 1000, ...(status ? { status } : {}) });
    if (rows.length === 0) break;
    for (const row of rows) {
      for (const r of recordsFromBody(row.body, row.createdAt)) {
        out.set(`/${r.provider}/${r.service}/${r.resource}`, { value: r.value, timestamp: r.timestamp });
      }
    }
    afterId = rows[rows.length - 1]!.id;
  }
  return out;
}

export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A (sender) and B (receiver) wired as in RELIABILITY.md's fault setup: A's dev-* → B's ext-dev-*. */
export async function wirePair(
  a: GatewayUnderTest,
  b: GatewayUnderTest,
  options: { realtime?: boolean } = {},
): Promise<void> {
  const { addConsumer, registerPartner } = await import("../../src/federation/testing/fixtures.js");
  await registerPartner(
    { gateway: b.i.gateway, stores: b.i.stores, jid: b.jid },
    { senderJid: a.jid, federatedUser: "alice@a", account: "partner-a" },
  );
  await addConsumer(
    { gateway: a.i.gateway, stores: a.i.stores, jid: a.jid },
    {
      targetJid: b.jid,
      federatedUser: "alice@a",
      account: "reader",
      selector: "dev-*",
      mapping: { provider: "ext-*" },
      ...(options.realtime === undefined ? {} : { realtime: options.realtime }),
    },
  );
  await a.i.node.refresh();
  await b.i.node.refresh();
}

export interface PairSpec {
  /** The XMPP accounts of A and B. */
  accounts: [{ jid: string; password: string }, { jid: string; password: string }];
  service: string;
  /** A's way to the server when it differs (a TCP proxy in front of it). */
  serviceA?: string;
  options?: Partial<FederationOptions>;
  /** Merged over `options` for A only. */
  optionsA?: Partial<FederationOptions>;
}

/**
 * The fault tests' set-up: A and B on fresh databases, started and wired A → B (wirePair). Their
 * teardown (stop both, drop the databases) goes into `cleanup`.
 */
export async function startPair(
  spec: PairSpec,
  cleanup: (() => Promise<void>)[],
): Promise<{ a: GatewayUnderTest; b: GatewayUnderTest }> {
  const dbs: FreshDatabase[] = [await freshDatabase(), await freshDatabase()];
  const [ja, jb] = spec.accounts;
  const a = new GatewayUnderTest({
    name: "A",
    jid: ja.jid,
    password: ja.password,
    service: spec.serviceA ?? spec.service,
    dbUrl: dbs[0]!.url,
    options: { ...spec.options, ...spec.optionsA },
  });
  const b = new GatewayUnderTest({
    name: "B",
    jid: jb.jid,
    password: jb.password,
    service: spec.service,
    dbUrl: dbs[1]!.url,
    options: spec.options ?? {},
  });
  cleanup.push(async () => {
    await a.stop();
    await b.stop();
    for (const d of dbs) await d.drop();
  });
  await a.start();
  await b.start();
  await wirePair(a, b);
  return { a, b };
}

/**
 * A's local system produces `total` records, `perPack` at a time, each batch extracted by
 * push-outbox into one Outbox row (the sender is kicked at once). `onBatch(k)` runs after batch k
 * (fault injection points); A may be restarted by it: the loop always uses the current instance.
 * Records are numbered from `from` (several rounds on one pair).
 */
export async function produce(
  a: GatewayUnderTest,
  total: number,
  perPack: number,
  onBatch: (k: number, batches: number) => Promise<void> | void = () => undefined,
  from = 0,
): Promise<void> {
  const batches = Math.ceil(total / perPack);
  for (let k = 0; k < batches; k++) {
    for (;;) {
      await until(() => a.current !== null, 30_000, "A running");
      const inst = a.i;
      try {
        // Seeding again after a crash is harmless: same values and timestamps.
        seedRecords(inst.gateway, from + k * perPack, Math.min(perPack, total - k * perPack));
        await inst.node.runJob("push-outbox");
        break;
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code !== "RELAIS_ERR_FED_JOB_BUSY" && code !== "RELAIS_ERR_DB_UNAVAILABLE") throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await onBatch(k, batches);
  }
}

/**
 * Waits until every Outbox row of A is delivered and B's Inbox holds nothing left to apply
 * (running fetch-outbox / fetch-inbox now and then, as their cron ticks would).
 */
export async function drained(a: GatewayUnderTest, ms: number, b?: GatewayUnderTest): Promise<number> {
  const t0 = Date.now();
  await until(
    async () => {
      if (a.current === null || (b && b.current === null)) return false;
      try {
        const c = await a.i.stores.outbox.countByStatus();
        const outboxDone = c.pending + c.sending + c.sent === 0;
        let inboxDone = true;
        if (b) {
          const ib = await b.i.stores.inbox.countByStatus();
          inboxDone = ib.pending + ib.applying === 0;
          if (!inboxDone) await b.i.node.runJob("fetch-inbox", { scheduled: true });
        }
        if (outboxDone && inboxDone) return true;
        if (!outboxDone) await a.i.node.runJob("fetch-outbox", { scheduled: true });
      } catch {
        // an instance crashed or restarted under our feet (fault tests): look again
      }
      return false;
    },
    ms,
    "A's Outbox delivered and B's Inbox applied",
  );
  return Date.now() - t0;
}
