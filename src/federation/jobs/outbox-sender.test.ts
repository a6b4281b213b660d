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
    expect((await stores.outbox.get("m1"))?.status).toBe("pending");
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
