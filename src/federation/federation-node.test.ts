import { afterEach, describe, expect, it } from "vitest";
import { RelaisError } from "../core/errors.js";
import { Gateway } from "../core/gateway.js";
import { MemoryValueStore } from "../core/model/memory-value-store.js";
import type { ModelEvent } from "../core/model/types.js";
import { systemClock } from "../core/ports.js";
import { MemorySecurityStore } from "../core/security/memory-security-store.js";
import { InsecureTestCrypto } from "../core/testing/fakes.js";
import { FederationNode, type FederationOptions } from "./federation-node.js";
import { createMemoryStores } from "./memory-stores.js";
import { MemoryHub, type MemoryTransport } from "./memory-transport.js";
import type { FederationStores } from "./stores.js";
import {
  FIXTURE_OWNER,
  PlainTestCipher,
  addConsumer,
  registerPartner,
  type Side,
} from "./testing/fixtures.js";

interface Peer extends Side {
  node: FederationNode;
  transport: MemoryTransport;
  events: Extract<ModelEvent, { kind: "DATA" }>[];
}

const nodes: FederationNode[] = [];

async function peer(
  hub: MemoryHub,
  jid: string,
  options: Partial<FederationOptions> = {},
  stores?: FederationStores,
  valueStore = new MemoryValueStore(),
): Promise<Peer> {
  const gateway = new Gateway({
    clock: systemClock,
    crypto: new InsecureTestCrypto(),
    valueStore,
    securityStore: new MemorySecurityStore(),
    flushIntervalMs: 50,
  });
  await gateway.start();
  const s = stores ?? createMemoryStores(new PlainTestCipher());
  const transport = hub.transport(jid);
  const node = new FederationNode({
    gateway,
    stores: s,
    transport,
    options: { scheduleJobs: false, ...options },
  });
  nodes.push(node);
  const events: Peer["events"] = [];
  gateway.onEvent((e) => {
    if (e.kind === "DATA") events.push(e);
  });
  return { gateway, stores: s, jid, node, transport, events };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const T0 = 1_700_000_000_000;

function seed(gw: Gateway, n: number, provider = (i: number) => `meter-${i % 3}`, t = T0): void {
  const r = gw.applyUpdates(
    FIXTURE_OWNER,
    Array.from({ length: n }, (_, i) => ({
      provider: provider(i),
      service: "power",
      resource: `r${i}`,
      value: i + 0.5,
      timestamp: t + i,
      metadata: { unit: "W" },
    })),
  );
  expect(r.rejected).toEqual([]);
}

async function pair(optsB: Partial<FederationOptions> = {}, hub = new MemoryHub()) {
  const a = await peer(hub, "alpha@fed.local");
  const b = await peer(hub, "beta@fed.local", optsB);
  await registerPartner(b, { senderJid: a.jid, federatedUser: "alice@alpha", account: "partner-alpha" });
  const consumer = await addConsumer(a, {
    targetJid: b.jid,
    federatedUser: "alice@alpha",
    account: "reader",
    selector: "meter-*/power/*",
    mapping: { provider: "ext-*" },
  });
  await a.node.start();
  await b.node.start();
  return { hub, a, b, consumer };
}

describe("FederationNode over the in-process transport", () => {
  it("push-outbox → fetch-outbox → applied on B with the id mapping, receipts mark rows delivered", async () => {
    const { a, b } = await pair();
    seed(a.gateway, 30);
    seed(a.gateway, 2, () => "other"); // not selected
    const push = await a.node.runJob("push-outbox");
    expect(push).toMatchObject({ ran: true, report: { records: 30, messages: 1 } });
    await until(async () => (await a.stores.outbox.countByStatus()).delivered === 1);
    expect(b.gateway.model.resource("ext-meter-1", "power", "r1")?.value).toBe(1.5);
    expect(b.gateway.model.resource("ext-meter-1", "power", "r1")?.metadata.get("unit")?.value).toBe("W");
    expect(b.gateway.model.resource("ext-meter-0", "power", "r0")?.timestamp).toBe(T0);
    expect(b.gateway.model.provider("meter-1")).toBeUndefined();
    expect(b.gateway.model.provider("ext-other")).toBeUndefined();
    expect(b.events).toHaveLength(30);
    // the cursor: nothing changed, nothing sent
    expect(await a.node.runJob("push-outbox")).toMatchObject({ report: { records: 0, messages: 0 } });
    // one change → one record
    seed(a.gateway, 1, () => "meter-2", T0 + 10_000);
    expect(await a.node.runJob("push-outbox")).toMatchObject({ report: { records: 1, messages: 1 } });
    await until(async () => (await a.stores.outbox.countByStatus()).delivered === 2);
    await until(async () => (await b.stores.inbox.countByStatus()).applied === 2);
    expect(b.events).toHaveLength(31);
    const status = await b.node.status();
    expect(status.counters).toMatchObject({ accepted: 2, recordsApplied: 31, rejected: 0 });
  });

  it("a pack over the server's stanza size ends A's stream: only it is dead-lettered, the rest arrives once (R9)", async () => {
    const { a, b } = await pair({}, new MemoryHub({ serverStanzaBytes: 4_000 }));
    seed(a.gateway, 30);
    await a.node.runJob("push-outbox");
    const big = a.gateway.applyUpdates(FIXTURE_OWNER, [
      { provider: "meter-big", service: "power", resource: "r", value: "x".repeat(5_000), timestamp: T0 },
    ]);
    expect(big.rejected).toEqual([]);
    await a.node.runJob("push-outbox");
    seed(a.gateway, 30, (i) => `meter-${3 + (i % 3)}`, T0 + 1_000);
    await a.node.runJob("push-outbox");
    await until(async () => {
      const c = await a.stores.outbox.countByStatus();
      return c.delivered === 2 && c.dead === 1;
    });
    const dead = (await a.stores.outbox.list({ status: "dead" }))[0];
    expect(dead?.body).toContain("meter-big");
    expect(dead?.lastError).toMatch(/^RELAIS_ERR_FED_SERVER_REFUSED: .*policy-violation/);
    // each record applied once (resends after the reconnect are deduplicated by B's Inbox)
    expect(b.events).toHaveLength(60);
    expect(new Set(b.events.map((e) => e.uri)).size).toBe(60);
  });

  it("applies a plain SenML body from a registered App under its default user, once per id (S3)", async () => {
    const { hub, b } = await pair();
    const body = JSON.stringify([{ bn: "ext-x/env/", n: "temp", u: "Cel", v: 21.5, bt: T0 / 1000 }]);
    for (let i = 0; i < 100; i++)
      hub.inject({ from: "alpha@fed.local/phone", to: b.jid, body, id: "replayed-1" });
    await until(() => b.node.counters.received === 100);
    await until(async () => (await b.stores.inbox.countByStatus()).applied === 1);
    expect(b.gateway.model.resource("ext-x", "env", "temp")?.value).toBe(21.5);
    expect(b.events).toHaveLength(1);
    expect(b.node.counters.duplicates).toBe(99);
  });

  it("rejects an unknown sender: nothing applied, audited, counted (S1)", async () => {
    const { hub, b } = await pair();
    hub.transport("mallory@fed.local");
    hub.inject({ from: "mallory@fed.local", to: b.jid, body: '[{"n":"ext-x/a/b","v":1}]', id: "m1" });
    await until(() => b.node.counters.rejected === 1);
    expect(b.node.counters.rejectedUnknownSender).toBe(1);
    expect(b.gateway.model.provider("ext-x")).toBeUndefined();
    const audit = await b.stores.audit.list({ action: "federation.message.rejected" });
    expect(audit[0]).toMatchObject({
      actor: "mallory@fed.local",
      subject: "m1",
      outcome: "RELAIS_ERR_FED_UNKNOWN_SENDER",
    });
    expect((await b.stores.inbox.countByStatus()).pending).toBe(0);
  });

  it("refuses records outside the user's rights per record and the sender dead-letters the message (S2)", async () => {
    const { a, b } = await pair();
    // a sensor of B's own connector-less data outside ext-*: the partner may not create there
    const consumer2 = await addConsumer(a, {
      targetJid: b.jid,
      federatedUser: "alice@alpha",
      account: "reader",
      selector: "secret-*/power/*",
    });
    expect(consumer2.id).toBeGreaterThan(0);
    seed(a.gateway, 2, () => "secret-1");
    await a.node.runJob("push-outbox");
    await until(async () => (await a.stores.outbox.countByStatus()).dead === 1);
    const dead = await a.stores.outbox.list({ status: "dead" });
    expect(dead[0]!.lastError).toMatch(/^RELAIS_ERR_FED_PEER_REJECTED/);
    expect(b.gateway.model.provider("secret-1")).toBeUndefined();
    expect(b.node.counters.recordsRejected).toBe(2);
    const audit = await b.stores.audit.list({ action: "federation.message.rejected" });
    expect(audit[0]?.outcome).toBe("RELAIS_ERR_FED_FORBIDDEN_RECORD");
  });

  it("real-time consumers send a change without waiting for the tick", async () => {
    const hub = new MemoryHub();
    const a = await peer(hub, "alpha@fed.local");
    const b = await peer(hub, "beta@fed.local");
    await registerPartner(b, { senderJid: a.jid, federatedUser: "alice@alpha", account: "partner-alpha" });
    await addConsumer(a, {
      targetJid: b.jid,
      federatedUser: "alice@alpha",
      account: "reader",
      selector: "meter-*",
      mapping: { provider: "ext-*" },
      realtime: true,
    });
    await a.node.start();
    await b.node.start();
    seed(a.gateway, 3);
    await until(() => b.events.length === 3);
    seed(a.gateway, 1, () => "meter-0", T0 + 5000);
    await until(() => b.gateway.model.resource("ext-meter-0", "power", "r0")?.timestamp === T0 + 5000);
  });

  it("inbox mode: receipts after the Inbox commit, Fetch Inbox applies", async () => {
    const { a, b } = await pair({ inboundMode: "inbox" });
    seed(a.gateway, 5);
    await a.node.runJob("push-outbox");
    await until(async () => (await a.stores.outbox.countByStatus()).delivered === 1);
    await until(() => b.events.length === 5);
    expect((await b.stores.inbox.countByStatus()).applied).toBe(1);
  });

  it("rejects unknown job names and reports a busy job", async () => {
    const { a } = await pair();
    await expect(a.node.runJob("nope")).rejects.toMatchObject({ code: "RELAIS_ERR_FED_UNKNOWN_JOB" });
  });

  it("keeps the changes of a push-outbox run that failed before any extraction (R5: database restart)", async () => {
    const { a } = await pair();
    seed(a.gateway, 3);
    expect(await a.node.runJob("push-outbox")).toMatchObject({ report: { records: 3 } }); // the sweep
    seed(a.gateway, 5, () => "meter-1", T0 + 10_000);
    const consumers = a.stores.consumers;
    const list = consumers.list.bind(consumers);
    let failures = 1;
    consumers.list = async (...args) => {
      if (failures-- > 0) throw new RelaisError("RELAIS_ERR_DB_UNAVAILABLE", "the database restarts");
      return list(...args);
    };
    await expect(a.node.runJob("push-outbox")).rejects.toMatchObject({ code: "RELAIS_ERR_DB_UNAVAILABLE" });
    expect(await a.node.runJob("push-outbox")).toMatchObject({ report: { records: 5, messages: 1 } });
  });

  it("is idempotent to start and stop, and puts claimed rows back on stop", async () => {
    const { a, b } = await pair();
    await a.node.start();
    await b.transport.stop(); // B goes offline: offline storage keeps the message
    seed(a.gateway, 3);
    await a.node.runJob("push-outbox");
    await until(async () => (await a.stores.outbox.countByStatus()).sent === 1);
    await a.node.stop();
    await a.node.stop();
    expect((await a.stores.outbox.countByStatus()).sending).toBe(0);
  });
});

describe("LocalSystem.apply is idempotent (a re-apply after a crash changes nothing: R4)", () => {
  it("skips records already held with the same value and timestamp, applies newer ones", async () => {
    const hub = new MemoryHub();
    const b = await peer(hub, "beta@fed.local");
    await registerPartner(b, {
      senderJid: "alpha@fed.local",
      federatedUser: "alice@alpha",
      account: "partner-alpha",
    });
    const who = await b.node.local.principalFor({ account: "partner-alpha" });
    const recs = [
      { provider: "ext-a", service: "s", resource: "r", value: 1, timestamp: T0 },
      { provider: "ext-a", service: "s", resource: "q", value: "x", timestamp: T0 },
    ];
    expect(await b.node.local.apply(who, recs)).toMatchObject({ applied: 2, skipped: 0, rejected: [] });
    expect(await b.node.local.apply(who, recs)).toMatchObject({ applied: 0, skipped: 2, rejected: [] });
    expect(b.events).toHaveLength(2);
    const newer = [{ ...recs[0]!, value: 2, timestamp: T0 + 1 }];
    expect(await b.node.local.apply(who, newer)).toMatchObject({ applied: 1 });
    expect(await b.node.local.apply(who, [recs[0]!])).toMatchObject({ applied: 0, skipped: 1 });
    expect(b.events).toHaveLength(3);
    const outside = await b.node.local.apply(who, [
      { provider: "core", service: "s", resource: "r", value: 1, timestamp: T0 },
    ]);
    expect(outside.rejected).toHaveLength(1);
  });
});
