import { describe, expect, it } from "vitest";
import type { FederationStanza } from "../core/ports.js";
import { MemoryHub } from "./memory-transport.js";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await tick(1);
  }
}

describe("MemoryHub / MemoryTransport", () => {
  it("delivers asynchronously, never inside send", async () => {
    const hub = new MemoryHub();
    const a = hub.transport("a@fed.local");
    const b = hub.transport("b@fed.local");
    await a.start();
    await b.start();
    const got: FederationStanza[] = [];
    b.on("message", async (m) => (got.push(m), { kind: "accepted" }));
    await a.send({ id: "1", to: "b@fed.local", body: "[]" });
    expect(got).toEqual([]);
    await until(() => got.length === 1);
  });

  it("normalises JIDs: the same account for case and resource variants", () => {
    const hub = new MemoryHub();
    expect(hub.transport("A@Fed.Local/x")).toBe(hub.transport("a@fed.local"));
    expect(hub.transport("a@fed.local").jid).toBe("a@fed.local");
  });

  it("queues messages during an outage (offline storage) and delivers them in order afterwards", async () => {
    const hub = new MemoryHub();
    const a = hub.transport("a@fed.local");
    const b = hub.transport("b@fed.local");
    const states: string[] = [];
    b.on("state", (s) => states.push(s));
    await a.start();
    await b.start();
    const got: string[] = [];
    const receipts: string[] = [];
    b.on("message", async (m) => (got.push(m.id), { kind: "accepted" }));
    a.on("receipt", (id) => receipts.push(id));
    b.goOffline();
    expect(b.state).toBe("connecting");
    for (const id of ["1", "2", "3"]) await a.send({ id, to: b.jid, body: "[]" });
    await tick(20);
    expect(got).toEqual([]);
    expect(hub.offlineCount(b.jid)).toBe(3);
    b.goOnline();
    await until(() => receipts.length === 3);
    expect(got).toEqual(["1", "2", "3"]);
    expect(hub.offlineCount(b.jid)).toBe(0);
    expect(states).toEqual(["online", "connecting", "online"]);
  });

  it("drops the receipt when the sender is down when it comes back (the sender resends)", async () => {
    const hub = new MemoryHub({ latencyMs: 5 });
    const a = hub.transport("a@fed.local");
    const b = hub.transport("b@fed.local");
    await a.start();
    await b.start();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    b.on("message", async () => {
      await gate;
      handled++;
      return { kind: "accepted" };
    });
    const receipts: string[] = [];
    a.on("receipt", (id) => receipts.push(id));
    await a.send({ id: "1", to: b.jid, body: "[]" });
    await tick(20);
    a.goOffline();
    release();
    await until(() => handled === 1);
    await tick(30);
    a.goOnline();
    await tick(30);
    expect(receipts).toEqual([]);
  });

  it("refuses send during an outage with a retryable code", async () => {
    const hub = new MemoryHub();
    const a = hub.transport("a@fed.local");
    await a.start();
    a.goOffline();
    await expect(a.send({ id: "1", to: "b@fed.local", body: "[]" })).rejects.toMatchObject({
      code: "RELAIS_ERR_XMPP_OFFLINE",
    });
  });

  it("refuses bodies over the size guard with policy-violation, without calling the handler", async () => {
    const hub = new MemoryHub({ maxBodyBytes: 10 });
    const a = hub.transport("a@fed.local");
    const b = hub.transport("b@fed.local");
    await a.start();
    await b.start();
    let called = 0;
    b.on("message", async () => (called++, { kind: "accepted" }));
    const bounces: string[] = [];
    a.on("bounce", (_id, _from, condition, text) => bounces.push(`${condition} ${text.split(":")[0]}`));
    await a.send({ id: "1", to: b.jid, body: "x".repeat(11) });
    await until(() => bounces.length === 1);
    expect(bounces).toEqual(["policy-violation RELAIS_ERR_XMPP_STANZA_TOO_LARGE"]);
    expect(called).toBe(0);
  });

  it("inject sends no receipt request: the handler runs, the injector gets nothing", async () => {
    const hub = new MemoryHub();
    const b = hub.transport("b@fed.local");
    const c = hub.transport("c@fed.local");
    await b.start();
    await c.start();
    const got: FederationStanza[] = [];
    b.on("message", async (m) => (got.push(m), { kind: "accepted" }));
    const receipts: string[] = [];
    c.on("receipt", (id) => receipts.push(id));
    hub.inject({ from: "c@fed.local/phone", to: "b@fed.local", body: "hi", id: "p1" });
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ id: "p1", from: "c@fed.local", to: "b@fed.local", body: "hi" });
    await tick(20);
    expect(receipts).toEqual([]);
  });
});
