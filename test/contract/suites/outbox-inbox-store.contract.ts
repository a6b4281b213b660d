import { beforeEach, describe, expect, it } from "vitest";
import type { FederationStores, NewInboxMessage, NewOutboxMessage } from "../../../src/federation/stores.js";
import { FakeClock, newBox, seedGraph, type StoreBackend } from "./backend.js";

const msg = (i: number, extra: Partial<NewOutboxMessage> = {}): NewOutboxMessage => ({
  messageId: `m-${i}`,
  consumerId: null,
  toJid: "beta@fed.local",
  federatedUser: "alice@example.org",
  body: JSON.stringify([{ bn: `meter-${i}/power/`, n: "active", v: i }]),
  recordCount: 1,
  ...extra,
});

export function outboxStoreContract(backend: StoreBackend): void {
  describe(`OutboxStore (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    const plan = (max = 3) => ({ error: "offline", nextAttemptAt: clock.t + 10_000, maxAttempts: max });
    beforeEach(async () => {
      clock = new FakeClock();
      s = await backend.stores(newBox(), clock);
    });

    it("enqueues a batch in order, skips message ids already present, and reads rows back", async () => {
      const g = await seedGraph(s);
      const c = await s.consumers.add({ userAppId: g.ua.id, consumerAppId: g.beta.id, selector: "*" });
      expect(await s.outbox.enqueue([msg(1, { consumerId: c.id, recordCount: 7 }), msg(2), msg(3)])).toEqual([
        "m-1",
        "m-2",
        "m-3",
      ]);
      expect(await s.outbox.enqueue([msg(2), msg(4), msg(4)])).toEqual(["m-4"]);
      expect(await s.outbox.enqueue([])).toEqual([]);
      const m1 = await s.outbox.get("m-1");
      expect(m1).toEqual({
        id: m1!.id,
        messageId: "m-1",
        consumerId: c.id,
        toJid: "beta@fed.local",
        federatedUser: "alice@example.org",
        body: msg(1).body,
        recordCount: 7,
        status: "pending",
        attempts: 0,
        nextAttemptAt: clock.t,
        lastError: null,
        claimedBy: null,
        createdAt: clock.t,
        updatedAt: clock.t,
      });
      const all = await s.outbox.list();
      expect(all.map((m) => m.messageId)).toEqual(["m-1", "m-2", "m-3", "m-4"]);
      expect(all.map((m) => m.id)).toEqual([...all.map((m) => m.id)].sort((a, b) => a - b));
      expect(await s.outbox.get("nope")).toBeNull();
    });

    it("refuses a message for a missing consumer, inserting none of the batch", async () => {
      await expect(s.outbox.enqueue([msg(1), msg(2, { consumerId: 999_999 })])).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_REFERENCE",
      });
      expect(await s.outbox.list()).toEqual([]);
    });

    it("claims due pending rows oldest first, at most N, marking them sending with attempts + 1", async () => {
      await s.outbox.enqueue([msg(1), msg(2), msg(3, { notBefore: clock.t + 60_000 })]);
      const first = await s.outbox.claim(1, "node-a");
      expect(first.map((m) => m.messageId)).toEqual(["m-1"]);
      expect(first[0]).toMatchObject({ status: "sending", attempts: 1, claimedBy: "node-a" });
      const rest = await s.outbox.claim(10, "node-b");
      expect(rest.map((m) => m.messageId)).toEqual(["m-2"]);
      expect(await s.outbox.claim(10, "node-b")).toEqual([]);
      clock.advance(60_000);
      expect((await s.outbox.claim(10, "node-b")).map((m) => m.messageId)).toEqual(["m-3"]);
    });

    it("marks sent then delivered in batches; delivered is final", async () => {
      await s.outbox.enqueue([msg(1), msg(2), msg(3)]);
      await s.outbox.claim(2, "n");
      expect(await s.outbox.markSent(["m-1", "m-2", "m-3", "unknown"])).toBe(2); // m-3 was not claimed
      expect((await s.outbox.get("m-1"))?.status).toBe("sent");
      expect((await s.outbox.get("m-3"))?.status).toBe("pending");
      expect(await s.outbox.markDelivered(["m-1", "m-3"])).toBe(2); // a receipt may overtake the claim
      expect(await s.outbox.markDelivered(["m-1"])).toBe(0);
      expect(await s.outbox.fail("m-1", plan())).toBeNull();
      expect(await s.outbox.markDead("m-1", "late")).toBe(false);
      expect(await s.outbox.countByStatus()).toEqual({
        pending: 0,
        sending: 0,
        sent: 1,
        delivered: 2,
        dead: 0,
      });
      expect(await s.outbox.markSent([])).toBe(0);
      expect(await s.outbox.markDelivered([])).toBe(0);
    });

    it("schedules retries with the error, then dead-letters after maxAttempts; retry brings it back", async () => {
      await s.outbox.enqueue([msg(1)]);
      for (let attempt = 1; attempt <= 2; attempt++) {
        const [m] = await s.outbox.claim(10, "n");
        expect(m?.attempts).toBe(attempt);
        expect(await s.outbox.fail("m-1", plan(3))).toBe("pending");
        const row = await s.outbox.get("m-1");
        expect(row).toMatchObject({
          status: "pending",
          lastError: "offline",
          nextAttemptAt: clock.t + 10_000,
          claimedBy: null,
        });
        expect(await s.outbox.claim(10, "n")).toEqual([]); // not yet due
        clock.advance(10_000);
      }
      await s.outbox.claim(10, "n");
      expect(await s.outbox.fail("m-1", plan(3))).toBe("dead");
      expect(await s.outbox.fail("m-1", plan(3))).toBeNull(); // not claimed any more
      clock.advance(1e9);
      expect(await s.outbox.claim(10, "n")).toEqual([]);
      expect((await s.outbox.list({ status: "dead" })).map((m) => m.messageId)).toEqual(["m-1"]);
      expect(await s.outbox.retry()).toBe(1);
      expect(await s.outbox.get("m-1")).toMatchObject({
        status: "pending",
        attempts: 0,
        nextAttemptAt: clock.t,
      });
      expect(await s.outbox.claim(10, "n")).toHaveLength(1);
    });

    it("dead-letters at once with markDead; retry by id only touches dead rows", async () => {
      await s.outbox.enqueue([msg(1), msg(2), msg(3)]);
      expect(await s.outbox.markDead("m-1", "too large")).toBe(true);
      expect(await s.outbox.markDead("m-2", "rejected")).toBe(true);
      const [d1, d2, p3] = await s.outbox.list();
      expect(d1).toMatchObject({ status: "dead", lastError: "too large" });
      expect(await s.outbox.retry([d2!.id, p3!.id])).toBe(1);
      expect((await s.outbox.get("m-2"))?.status).toBe("pending");
      expect((await s.outbox.get("m-1"))?.status).toBe("dead");
      expect(await s.outbox.retry([])).toBe(0);
    });

    it("releases sending rows: all, by owner, or only stale claims", async () => {
      await s.outbox.enqueue([msg(1), msg(2), msg(3)]);
      await s.outbox.claim(1, "a");
      clock.advance(30_000);
      await s.outbox.claim(1, "b");
      await s.outbox.claim(1, "a");
      expect(await s.outbox.release({ claimedBefore: clock.t - 10_000 })).toBe(1); // m-1 only
      expect(await s.outbox.get("m-1")).toMatchObject({ status: "pending", claimedBy: null, attempts: 1 });
      expect(await s.outbox.release({ owner: "b" })).toBe(1);
      expect((await s.outbox.get("m-3"))?.status).toBe("sending");
      expect(await s.outbox.release()).toBe(1);
      expect((await s.outbox.countByStatus()).pending).toBe(3);
    });

    it("expedites the pending rows to one peer that wait for a later attempt", async () => {
      await s.outbox.enqueue([msg(1), msg(2), { ...msg(3), toJid: "other@x" }]);
      const claimed = await s.outbox.claim(10, "a");
      for (const m of claimed)
        await s.outbox.fail(m.messageId, { error: "E: x", nextAttemptAt: clock.t + 60_000, maxAttempts: 9 });
      expect(await s.outbox.claim(10, "a")).toEqual([]); // all waiting
      expect(await s.outbox.expedite(msg(1).toJid.toUpperCase())).toBe(2); // a JID's case does not matter
      expect((await s.outbox.claim(10, "a")).map((m) => m.messageId)).toEqual(["m-1", "m-2"]);
      expect(await s.outbox.expedite(msg(1).toJid)).toBe(0); // none pending any more
    });

    it("unclaims rows that were not sent: back to pending with the claim's attempt given back", async () => {
      await s.outbox.enqueue([msg(1), msg(2), msg(3)]);
      await s.outbox.claim(10, "a");
      await s.outbox.markSent(["m-3"]);
      expect(await s.outbox.unclaim(["m-1", "m-3", "nope"])).toBe(1); // m-3 was sent: left alone
      expect(await s.outbox.get("m-1")).toMatchObject({ status: "pending", claimedBy: null, attempts: 0 });
      expect(await s.outbox.get("m-2")).toMatchObject({ status: "sending", attempts: 1 });
      expect(await s.outbox.get("m-3")).toMatchObject({ status: "sent", attempts: 1 });
      expect(await s.outbox.unclaim([])).toBe(0);
      expect((await s.outbox.claim(10, "b")).map((m) => [m.messageId, m.attempts])).toEqual([["m-1", 1]]);
    });

    it("requeues sent rows whose receipt never came, keeping their message id", async () => {
      await s.outbox.enqueue([msg(1), msg(2)]);
      await s.outbox.claim(10, "n");
      await s.outbox.markSent(["m-1"]);
      clock.advance(60_000);
      await s.outbox.markSent(["m-2"]);
      expect(await s.outbox.requeueUnacknowledged(clock.t - 30_000)).toBe(1);
      const again = await s.outbox.claim(10, "n");
      expect(again.map((m) => [m.messageId, m.attempts])).toEqual([["m-1", 2]]);
    });

    it("lists with status filters and keyset paging; counts every status", async () => {
      await s.outbox.enqueue(Array.from({ length: 25 }, (_, i) => msg(i + 1)));
      await s.outbox.claim(5, "n");
      await s.outbox.markDead("m-25", "x");
      const page1 = await s.outbox.list({ limit: 10 });
      const page2 = await s.outbox.list({ limit: 10, afterId: page1.at(-1)!.id });
      const page3 = await s.outbox.list({ limit: 10, afterId: page2.at(-1)!.id });
      expect([...page1, ...page2, ...page3].map((m) => m.messageId)).toEqual(
        Array.from({ length: 25 }, (_, i) => `m-${i + 1}`),
      );
      expect(page3).toHaveLength(5);
      expect(await s.outbox.list({ status: "sending" })).toHaveLength(5);
      expect(await s.outbox.list({ status: ["sending", "dead"] })).toHaveLength(6);
      expect(await s.outbox.countByStatus()).toEqual({
        pending: 19,
        sending: 5,
        sent: 0,
        delivered: 0,
        dead: 1,
      });
    });

    it("purges delivered rows older than a time", async () => {
      await s.outbox.enqueue([msg(1), msg(2)]);
      await s.outbox.markDelivered(["m-1"]);
      clock.advance(1000);
      await s.outbox.markDelivered(["m-2"]);
      expect(await s.outbox.purgeDelivered(clock.t)).toBe(1);
      expect((await s.outbox.list()).map((m) => m.messageId)).toEqual(["m-2"]);
    });

    it("keeps bodies and ids with quotes, unicode and SQL verbatim", async () => {
      const body = `[{"n":"x'; DROP TABLE outbox; --","vs":"é ü 😀 \\u0000-less"}]`;
      await s.outbox.enqueue([msg(1, { messageId: "id'\"); DELETE FROM outbox; --", body })]);
      const [m] = await s.outbox.list();
      expect(m).toMatchObject({ messageId: "id'\"); DELETE FROM outbox; --", body });
    });

    it("never hands the same row to two claimers running at once", async () => {
      await s.outbox.enqueue(Array.from({ length: 200 }, (_, i) => msg(i)));
      const other = backend.concurrent ? await backend.concurrent(newBox(), clock) : s;
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? s : other).outbox.claim(30, `w${i}`)),
      );
      const ids = claims.flat().map((m) => m.messageId);
      expect(ids).toHaveLength(200);
      expect(new Set(ids).size).toBe(200);
      expect((await s.outbox.countByStatus()).sending).toBe(200);
    });
  });
}

const inMsg = (i: number, extra: Partial<NewInboxMessage> = {}): NewInboxMessage => ({
  senderJid: "alpha@fed.local",
  messageId: `x-${i}`,
  federatedUser: "alice@example.org",
  consumerRef: "42",
  body: `[{"n":"ext-1/s/r","v":${i}}]`,
  ...extra,
});

export function inboxStoreContract(backend: StoreBackend): void {
  describe(`InboxStore (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    const plan = (max = 2) => ({
      error: "local system down",
      nextAttemptAt: clock.t + 5000,
      maxAttempts: max,
    });
    beforeEach(async () => {
      clock = new FakeClock();
      s = await backend.stores(newBox(), clock);
    });

    it("inserts once per (sender, message id); a replay returns the first row", async () => {
      const first = await s.inbox.insertIfAbsent(inMsg(1));
      expect(first.inserted).toBe(true);
      expect(first.message).toEqual({
        id: first.message.id,
        senderJid: "alpha@fed.local",
        messageId: "x-1",
        federatedUser: "alice@example.org",
        consumerRef: "42",
        body: inMsg(1).body,
        status: "pending",
        attempts: 0,
        nextAttemptAt: clock.t,
        lastError: null,
        claimedBy: null,
        receivedAt: clock.t,
        updatedAt: clock.t,
      });
      for (let i = 0; i < 5; i++) {
        const again = await s.inbox.insertIfAbsent({ ...inMsg(1), body: "changed" });
        expect(again).toEqual({ inserted: false, message: first.message });
      }
      const otherSender = await s.inbox.insertIfAbsent(inMsg(1, { senderJid: "gamma@fed.local" }));
      expect(otherSender.inserted).toBe(true);
      expect(await s.inbox.list()).toHaveLength(2);
      expect(await s.inbox.find("alpha@fed.local", "x-1")).toEqual(first.message);
      expect(await s.inbox.find("alpha@fed.local", "x-2")).toBeNull();
    });

    it("records a directly applied or rejected message for dedup", async () => {
      const a = await s.inbox.insertIfAbsent(inMsg(1, { status: "applied" }));
      const r = await s.inbox.insertIfAbsent(inMsg(2, { status: "rejected", lastError: "forbidden" }));
      expect(a.message.status).toBe("applied");
      expect(r.message).toMatchObject({ status: "rejected", lastError: "forbidden" });
      expect(await s.inbox.claim(10, "n")).toEqual([]);
      expect((await s.inbox.insertIfAbsent(inMsg(1))).inserted).toBe(false);
    });

    it("inserts a batch, reporting new and duplicate entries in input order", async () => {
      await s.inbox.insertIfAbsent(inMsg(2));
      const res = await s.inbox.insertManyIfAbsent([inMsg(1), inMsg(2), inMsg(3), inMsg(1)]);
      expect(res.map((r) => r.inserted)).toEqual([true, false, true, false]);
      expect(res[0]!.id).toBe(res[3]!.id);
      const rows = await s.inbox.list();
      expect(rows.map((m) => m.messageId)).toEqual(["x-2", "x-1", "x-3"]);
      expect(res.map((r) => r.id)).toEqual([rows[1]!.id, rows[0]!.id, rows[2]!.id, rows[1]!.id]);
      expect(await s.inbox.insertManyIfAbsent([])).toEqual([]);
    });

    it("claims, applies, retries, dead-letters and brings back", async () => {
      await s.inbox.insertManyIfAbsent([inMsg(1), inMsg(2), inMsg(3)]);
      const claimed = await s.inbox.claim(2, "n");
      expect(claimed.map((m) => [m.messageId, m.status, m.attempts, m.claimedBy])).toEqual([
        ["x-1", "applying", 1, "n"],
        ["x-2", "applying", 1, "n"],
      ]);
      expect(await s.inbox.markApplied([claimed[0]!.id])).toBe(1);
      expect(await s.inbox.markApplied([claimed[0]!.id])).toBe(0);
      expect(await s.inbox.fail(claimed[1]!.id, plan(2))).toBe("pending");
      expect(await s.inbox.get(claimed[1]!.id)).toMatchObject({
        lastError: "local system down",
        nextAttemptAt: clock.t + 5000,
      });
      expect((await s.inbox.claim(10, "n")).map((m) => m.messageId)).toEqual(["x-3"]);
      clock.advance(5000);
      const [again] = await s.inbox.claim(10, "n");
      expect(again).toMatchObject({ messageId: "x-2", attempts: 2 });
      expect(await s.inbox.fail(again!.id, plan(2))).toBe("dead");
      expect(await s.inbox.countByStatus()).toEqual({
        pending: 0,
        applying: 1,
        applied: 1,
        rejected: 0,
        dead: 1,
      });
      expect(await s.inbox.retry()).toBe(1);
      expect(await s.inbox.get(again!.id)).toMatchObject({ status: "pending", attempts: 0 });
    });

    it("rejects permanently; retry by id brings back rejected rows, retry() only dead ones", async () => {
      await s.inbox.insertManyIfAbsent([inMsg(1), inMsg(2)]);
      const [a, b] = await s.inbox.list();
      expect(await s.inbox.markRejected(a!.id, "not allowed")).toBe(true);
      expect(await s.inbox.retry()).toBe(0);
      expect(await s.inbox.retry([a!.id, b!.id])).toBe(1);
      await s.inbox.markApplied([b!.id]);
      expect(await s.inbox.markRejected(b!.id, "late")).toBe(false);
    });

    it("releases applying rows by owner or staleness and lists by status with paging", async () => {
      await s.inbox.insertManyIfAbsent(Array.from({ length: 12 }, (_, i) => inMsg(i)));
      await s.inbox.claim(3, "a");
      clock.advance(20_000);
      await s.inbox.claim(3, "b");
      expect(await s.inbox.release({ claimedBefore: clock.t - 1000 })).toBe(3);
      expect(await s.inbox.release({ owner: "a" })).toBe(0);
      expect(await s.inbox.release({ owner: "b" })).toBe(3);
      expect(await s.inbox.release()).toBe(0);
      const p1 = await s.inbox.list({ status: "pending", limit: 5 });
      const p2 = await s.inbox.list({ status: "pending", limit: 5, afterId: p1.at(-1)!.id });
      const p3 = await s.inbox.list({ status: ["pending"], limit: 5, afterId: p2.at(-1)!.id });
      expect([...p1, ...p2, ...p3].map((m) => m.messageId)).toEqual(
        Array.from({ length: 12 }, (_, i) => `x-${i}`),
      );
    });

    it("purges applied and rejected rows older than a time", async () => {
      await s.inbox.insertIfAbsent(inMsg(1, { status: "applied" }));
      await s.inbox.insertIfAbsent(inMsg(2, { status: "rejected" }));
      await s.inbox.insertIfAbsent(inMsg(3));
      clock.advance(10);
      expect(await s.inbox.purgeDone(clock.t)).toBe(2);
      expect((await s.inbox.list()).map((m) => m.messageId)).toEqual(["x-3"]);
    });

    it("deduplicates replays racing each other", async () => {
      const other = backend.concurrent ? await backend.concurrent(newBox(), clock) : s;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? s : other).inbox.insertIfAbsent(inMsg(7))),
      );
      expect(results.filter((r) => r.inserted)).toHaveLength(1);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
      expect(await s.inbox.list()).toHaveLength(1);
    });
  });
}
