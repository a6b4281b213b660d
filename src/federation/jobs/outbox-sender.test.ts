import { describe, expect, it } from "vitest";
import { RelaisError } from "../../core/errors.js";
import {
  silentLogger,
  type OutgoingStanza,
  type Transport,
  type TransportEvents,
  type TransportState,
} from "../../core/ports.js";
import { FakeClock } from "../../core/testing/fakes.js";
import { newCounters } from "../counters.js";
import { createMemoryStores } from "../memory-stores.js";
import { PlainTestCipher } from "../testing/fixtures.js";
import { OutboxSender, isPermanentCondition } from "./outbox-sender.js";

class FakeTransport implements Transport {
  readonly jid = "a@x";
  state: TransportState = "online";
  sent: OutgoingStanza[] = [];
  failWith: RelaisError | null = null;
  on<K extends keyof TransportEvents>(_e: K, _h: TransportEvents[K]): void {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(s: OutgoingStanza): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.sent.push(s);
  }
  lastStreamError: string | null = null;
  /** Stanzas confirmed by the "server" so far; confirm() fails with confirmError when set. */
  confirmError: RelaisError | null = null;
  confirms = 0;
  async confirm(): Promise<void> {
    this.confirms++;
    if (this.confirmError) throw this.confirmError;
  }
}

function setup(options = {}) {
  const clock = new FakeClock();
  const stores = createMemoryStores(new PlainTestCipher(), clock);
  const transport = new FakeTransport();
  const counters = newCounters();
  const sender = new OutboxSender({
    outbox: stores.outbox,
    transport,
    clock,
    logger: silentLogger,
    counters,
    owner: "me",
    random: () => 0,
    options: { ackTimeoutMs: 1_000, maxAttempts: 3, backoff: { baseMs: 100, maxMs: 1_000 }, ...options },
  });
  const enqueue = (id: string, body = '[{"n":"a/b/c","v":1}]') =>
    stores.outbox.enqueue([
      { messageId: id, consumerId: null, toJid: "b@x", federatedUser: "u@x", body, recordCount: 1 },
    ]);
  return { clock, stores, transport, counters, sender, enqueue };
}

describe("OutboxSender", () => {
  it("sends due rows with their stable id and user, marks them sent, delivered on receipt", async () => {
    const { stores, transport, sender, enqueue } = setup();
    await enqueue("m1");
    expect(await sender.run()).toMatchObject({ claimed: 1, sent: 1 });
    expect(transport.sent).toEqual([{ id: "m1", to: "b@x", body: '[{"n":"a/b/c","v":1}]', user: "u@x" }]);
    expect((await stores.outbox.get("m1"))?.status).toBe("sent");
    sender.onReceipt("m1");
    await new Promise((r) => setTimeout(r, 10));
    expect((await stores.outbox.get("m1"))?.status).toBe("delivered");
  });

  it("resends an unconfirmed row after the timeout with backoff, same id, and dead-letters after maxAttempts", async () => {
    const { clock, stores, transport, sender, enqueue } = setup();
    await enqueue("m1");
    await sender.run();
    clock.advance(500);
    expect(await sender.run()).toMatchObject({ requeued: 0 }); // not yet timed out
    clock.advance(600);
    expect(await sender.run()).toMatchObject({ requeued: 1, sent: 0 }); // back to pending, due after backoff
    expect((await stores.outbox.get("m1"))?.status).toBe("pending");
    clock.advance(100); // backoff of attempt 1 with random 0: 50 ms
    expect(await sender.run()).toMatchObject({ sent: 1 });
    expect(transport.sent.map((s) => s.id)).toEqual(["m1", "m1"]);
    for (let i = 0; i < 5; i++) {
      clock.advance(2_000);
      await sender.run();
    }
    const row = await stores.outbox.get("m1");
    expect(row?.status).toBe("dead");
    expect(row?.lastError).toMatch(/^RELAIS_ERR_FED_UNCONFIRMED/);
    expect(transport.sent.length).toBe(3);
  });

  it("dead-letters at once on a permanent bounce, retries on a transient one", async () => {
    const { stores, sender, enqueue, clock } = setup();
    await enqueue("perm");
    await enqueue("temp");
    await sender.run();
    sender.onBounce("perm", "b@x", "forbidden", "RELAIS_ERR_FED_FORBIDDEN_RECORD: no");
    sender.onBounce("temp", "b@x", "service-unavailable", "");
    await new Promise((r) => setTimeout(r, 10));
    expect((await stores.outbox.get("perm"))?.status).toBe("dead");
    expect((await stores.outbox.get("perm"))?.lastError).toMatch(/^RELAIS_ERR_FED_PEER_REJECTED/);
    expect((await stores.outbox.get("temp"))?.status).toBe("pending");
    clock.advance(1_000);
    expect(await sender.run()).toMatchObject({ sent: 1 });
    expect(isPermanentCondition("policy-violation")).toBe(true);
    expect(isPermanentCondition("remote-server-timeout")).toBe(false);
  });

  it("dead-letters an oversize row (R9) and keeps the queue moving", async () => {
    const { stores, transport, sender, enqueue } = setup({ stanzaLimit: 2048 });
    await enqueue("big", JSON.stringify([{ n: "a/b/c", vs: "x".repeat(5000) }]));
    await enqueue("small");
    expect(await sender.run()).toMatchObject({ claimed: 2, sent: 1, deadLettered: 1 });
    expect((await stores.outbox.get("big"))?.lastError).toMatch(/^RELAIS_ERR_FED_OVERSIZE/);
    expect(transport.sent.map((s) => s.id)).toEqual(["small"]);
  });

  it("sends nothing while offline and puts rows back when the stream fails mid-batch", async () => {
    const { stores, transport, sender, enqueue } = setup();
    await enqueue("m1");
    transport.state = "offline";
    expect(await sender.run()).toMatchObject({ claimed: 0 });
    transport.state = "online";
    transport.failWith = new RelaisError("RELAIS_ERR_XMPP_OFFLINE");
    await sender.run();
    await sender.run();
    // never written: pending again, and the outage cost no attempt
    expect(await stores.outbox.get("m1")).toMatchObject({ status: "pending", attempts: 0 });
    transport.failWith = null;
    expect(await sender.run()).toMatchObject({ sent: 1 });
  });

  it("on stop and at recovery, rows left in 'sending' by this owner go back to pending (R10)", async () => {
    const { stores, sender, enqueue } = setup();
    await enqueue("m1");
    await stores.outbox.claim(10, "me");
    expect((await stores.outbox.get("m1"))?.status).toBe("sending");
    expect(await sender.recover()).toMatchObject({ released: 1 });
    await stores.outbox.claim(10, "me");
    expect(await sender.stop()).toBe(1);
    expect((await stores.outbox.get("m1"))?.status).toBe("pending");
  });
});

describe("a peer that answers again (R7)", () => {
  it("resends the rows waiting out a backoff as soon as a receipt from that peer arrives", async () => {
    const { stores, transport, sender, enqueue } = setup({ backoff: { baseMs: 20_000, maxMs: 60_000 } });
    const expedited: string[] = [];
    const expedite = stores.outbox.expedite.bind(stores.outbox);
    stores.outbox.expedite = async (jid) => {
      expedited.push(jid);
      return expedite(jid);
    };
    await enqueue("m1");
    await enqueue("m2");
    await sender.run();
    sender.onReceipt("m2", "b@x"); // no row of b@x waits: nothing to expedite
    sender.onBounce("m1", "b@x", "service-unavailable", ""); // offline quota reached, say
    await new Promise((r) => setTimeout(r, 10));
    expect(await stores.outbox.get("m1")).toMatchObject({ status: "pending" });
    expect(await sender.run()).toMatchObject({ sent: 0 }); // waits out 10 s (random 0: half of 20 s)
    await enqueue("m3");
    await sender.run();
    sender.onReceipt("m3", "b@x"); // b@x is back
    await new Promise((r) => setTimeout(r, 20));
    expect(expedited).toEqual(["b@x"]);
    expect(transport.sent.map((x) => x.id)).toEqual(["m1", "m2", "m3", "m1"]);
    expect(await stores.outbox.get("m1")).toMatchObject({ status: "sent", attempts: 2 });
  });
});

describe("a message the XMPP server ends the stream on (R9, server limit)", () => {
  /** The "server" ends the stream when it sees `poison`: confirm() after it fails with policy-violation. */
  function poisoned(poison: string) {
    const t = setup();
    const { transport } = t;
    transport.confirm = async () => {
      transport.confirms++;
      if (transport.sent.at(-1)?.id === poison) {
        transport.lastStreamError = "policy-violation";
        throw new RelaisError("RELAIS_ERR_XMPP_CONNECT_FAILED", "stream error: policy-violation", {
          streamError: "policy-violation",
        });
      }
    };
    return t;
  }

  it("resends the rows that were in flight one at a time, dead-letters only the one the server refuses alone", async () => {
    const { stores, transport, sender, enqueue } = poisoned("m2");
    for (const id of ["m1", "m2", "m3", "m4"]) await enqueue(id);
    expect(await sender.run()).toMatchObject({ sent: 4 }); // together: nothing to tell them apart
    expect(transport.confirms).toBe(0);
    // the server ended the stream over one of them; the transport is back
    transport.lastStreamError = "policy-violation";
    await sender.onReconnected();
    const report = await sender.run();
    expect(report).toMatchObject({ deadLettered: 1 });
    expect(transport.sent.slice(4).map((s) => s.id)).toEqual(["m1", "m2"]); // alone, confirmed one by one
    expect(await stores.outbox.get("m2")).toMatchObject({ status: "dead", attempts: 2 });
    expect((await stores.outbox.get("m2"))?.lastError).toMatch(
      /^RELAIS_ERR_FED_SERVER_REFUSED: .*policy-violation/,
    );
    expect(await stores.outbox.get("m1")).toMatchObject({ status: "sent", attempts: 2 });
    // m3, m4 were not written when the stream ended: pending, no attempt burnt
    expect(await stores.outbox.get("m3")).toMatchObject({ status: "pending", attempts: 1 });
    transport.lastStreamError = null;
    await sender.onReconnected();
    await sender.run();
    // m1 had no receipt yet: resent after the reconnect too (the peer deduplicates)
    expect(transport.sent.slice(6).map((s) => s.id)).toEqual(["m1", "m3", "m4"]);
    expect(await stores.outbox.get("m4")).toMatchObject({ status: "sent", attempts: 2 });
    for (const id of ["m1", "m3", "m4"]) sender.onReceipt(id);
    await new Promise((r) => setTimeout(r, 10));
    expect(await stores.outbox.countByStatus()).toMatchObject({ delivered: 3, dead: 1 });
  });

  it("after a plain disconnect (no stream error) rows are resent together, without confirmations", async () => {
    const { transport, sender, enqueue } = poisoned("none");
    for (const id of ["m1", "m2"]) await enqueue(id);
    await sender.run();
    transport.lastStreamError = null;
    await sender.onReconnected();
    expect(await sender.run()).toMatchObject({ sent: 2 });
    expect(transport.confirms).toBe(0);
  });

  it("a suspect alone on a stream that breaks without a stream error is not blamed", async () => {
    const { stores, transport, sender, enqueue } = setup();
    await enqueue("m1");
    await sender.run();
    transport.lastStreamError = "policy-violation";
    await sender.onReconnected();
    transport.confirmError = new RelaisError("RELAIS_ERR_XMPP_CONNECT_FAILED", "connection closed");
    await sender.run();
    expect(await stores.outbox.get("m1")).toMatchObject({ status: "sent" }); // resent later, not dead
    expect(transport.confirms).toBe(1);
  });
});

describe("retention", () => {
  it("deletes delivered rows after the retention period, keeps the others", async () => {
    const { clock, stores, sender, enqueue } = setup({ retentionMs: 10_000 });
    await enqueue("old");
    await enqueue("kept");
    await sender.run();
    sender.onReceipt("old");
    await new Promise((r) => setTimeout(r, 10));
    clock.advance(20_000);
    await sender.run();
    expect(await stores.outbox.get("old")).toBeNull();
    expect(await stores.outbox.get("kept")).not.toBeNull();
  });
});
