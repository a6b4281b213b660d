/**
 * The Transport contract (src/core/ports.ts, CONTRACTS.md §4): every implementation passes it.
 * Run by transport-memory.test.ts (MemoryTransport) and transport-xmpp.test.ts (XmppTransport on
 * the harness ejabberd).
 */
import { afterEach, describe, expect, it } from "vitest";
import { isRelaisError } from "../../src/core/errors.js";
import type { FederationStanza, InboundVerdict, Transport, TransportState } from "../../src/core/ports.js";

export interface TransportFixture {
  /** Two started, online transports on fresh accounts that can reach each other. */
  pair(): Promise<{ a: Transport; b: Transport }>;
  /** A well-formed JID with no account behind it. */
  unknownJid(): string;
  /** An independent sender: a plain chat message (no receipt request, no relais element). */
  inject(to: string, body: string): Promise<{ from: string }>;
  /** Restart a stopped transport (same JID and credentials). */
  restart(t: Transport): Promise<void>;
  /** Per-test cleanup (stop transports). */
  cleanup(): Promise<void>;
  /** How long "nothing arrives" is waited for, ms. */
  quietMs: number;
}

export interface Recorder {
  messages: FederationStanza[];
  receipts: { id: string; from: string }[];
  bounces: { id: string; from: string; condition: string; text: string }[];
  states: TransportState[];
}

export function record(
  t: Transport,
  verdict: (m: FederationStanza) => Promise<InboundVerdict> = async () => ({ kind: "accepted" }),
): Recorder {
  const r: Recorder = { messages: [], receipts: [], bounces: [], states: [] };
  t.on("message", async (m) => {
    r.messages.push(m);
    return verdict(m);
  });
  t.on("receipt", (id, from) => r.receipts.push({ id, from }));
  t.on("bounce", (id, from, condition, text) => r.bounces.push({ id, from, condition, text }));
  t.on("state", (s) => r.states.push(s));
  return r;
}

export async function until(cond: () => boolean, ms = 5_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const newId = () => `c-${Date.now().toString(36)}-${(seq++).toString(36)}`;

export function transportContract(name: string, makeFixture: () => TransportFixture): void {
  describe(`Transport contract: ${name}`, () => {
    const fx = makeFixture();
    afterEach(async () => {
      await fx.cleanup();
    });

    it("delivers a message to the handler with the bare sender JID, and returns a receipt with the same id", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      const rb = record(b);
      const id = newId();
      await a.send({ id, to: b.jid, body: '[{"n":"p/s/r","v":1}]' });
      await until(() => ra.receipts.length === 1, 5_000, "receipt");
      expect(rb.messages).toHaveLength(1);
      const m = rb.messages[0]!;
      expect(m.id).toBe(id);
      expect(m.from).toBe(a.jid);
      expect(m.from).not.toContain("/");
      expect(m.to).toBe(b.jid);
      expect(m.body).toBe('[{"n":"p/s/r","v":1}]');
      expect(ra.receipts[0]).toEqual({ id, from: b.jid });
      expect(ra.bounces).toEqual([]);
    });

    it("round-trips the relais user and consumer attributes, and leaves them out when absent", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      const rb = record(b);
      await a.send({ id: newId(), to: b.jid, body: "[]", user: "alice@example.org", consumer: "42" });
      await a.send({ id: newId(), to: b.jid, body: "[]" });
      await until(() => ra.receipts.length === 2);
      const [withAttrs, without] = rb.messages;
      expect(withAttrs?.user).toBe("alice@example.org");
      expect(withAttrs?.consumer).toBe("42");
      expect(without).toBeDefined();
      expect("user" in without!).toBe(false);
      expect("consumer" in without!).toBe(false);
    });

    it("keeps XML-special and non-ASCII characters of the body intact", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      const rb = record(b);
      const body = `[{"n":"a<b>&c'd\\"e","vs":"µ°C 🌡 ]]> <!-- x -->"}]`;
      await a.send({ id: newId(), to: b.jid, body });
      await until(() => ra.receipts.length === 1);
      expect(rb.messages[0]?.body).toBe(body);
    });

    it("sends the receipt only after the handler resolves", async () => {
      const { a, b } = await fx.pair();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const ra = record(a);
      const rb = record(b, async () => {
        await gate;
        return { kind: "accepted" };
      });
      await a.send({ id: newId(), to: b.jid, body: "[]" });
      await until(() => rb.messages.length === 1);
      await sleep(fx.quietMs);
      expect(ra.receipts).toEqual([]);
      release();
      await until(() => ra.receipts.length === 1);
    });

    it("answers a rejection with a bounce carrying the condition and the error code, and no receipt", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      record(b, async () => ({
        kind: "rejected",
        code: "RELAIS_ERR_FED_UNKNOWN_SENDER",
        message: "not a registered app",
        condition: "forbidden",
      }));
      const id = newId();
      await a.send({ id, to: b.jid, body: "[]" });
      await until(() => ra.bounces.length === 1, 5_000, "bounce");
      const bounce = ra.bounces[0]!;
      expect(bounce.id).toBe(id);
      expect(bounce.from).toBe(b.jid);
      expect(bounce.condition).toBe("forbidden");
      expect(bounce.text.startsWith("RELAIS_ERR_FED_UNKNOWN_SENDER")).toBe(true);
      await sleep(fx.quietMs);
      expect(ra.receipts).toEqual([]);
    });

    it("uses not-acceptable when a rejection names no condition", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      record(b, async () => ({ kind: "rejected", code: "RELAIS_ERR_FED_BAD_PACK", message: "bad" }));
      await a.send({ id: newId(), to: b.jid, body: "x" });
      await until(() => ra.bounces.length === 1);
      expect(ra.bounces[0]?.condition).toBe("not-acceptable");
      expect(ra.bounces[0]?.text.startsWith("RELAIS_ERR_FED_BAD_PACK")).toBe(true);
    });

    it("answers nothing when the handler throws (the sender will resend)", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      const rb = record(b, async () => {
        throw new Error("database down");
      });
      await a.send({ id: newId(), to: b.jid, body: "[]" });
      await until(() => rb.messages.length === 1);
      await sleep(fx.quietMs);
      expect(ra.receipts).toEqual([]);
      expect(ra.bounces).toEqual([]);
    });

    it("delivers a resend with the same id again (dedup belongs to the receiver)", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      const rb = record(b);
      const id = newId();
      await a.send({ id, to: b.jid, body: "[]" });
      await until(() => ra.receipts.length === 1);
      await a.send({ id, to: b.jid, body: "[]" });
      await until(() => ra.receipts.length === 2);
      expect(rb.messages.map((m) => m.id)).toEqual([id, id]);
    });

    it("bounces a message to a JID without account with service-unavailable", async () => {
      const { a } = await fx.pair();
      const ra = record(a);
      const to = fx.unknownJid();
      const id = newId();
      await a.send({ id, to, body: "[]" });
      await until(() => ra.bounces.length === 1, 5_000, "bounce");
      expect(ra.bounces[0]).toMatchObject({ id, from: to, condition: "service-unavailable" });
      expect(ra.receipts).toEqual([]);
    });

    it("delivers a plain message from an independent sender, without user/consumer", async () => {
      const { b } = await fx.pair();
      const rb = record(b);
      const { from } = await fx.inject(b.jid, '[{"n":"x/y/z","v":2}]');
      await until(() => rb.messages.length === 1, 5_000, "injected message");
      const m = rb.messages[0]!;
      expect(m.from).toBe(from);
      expect(m.to).toBe(b.jid);
      expect(m.body).toBe('[{"n":"x/y/z","v":2}]');
      expect(m.id).not.toBe("");
      expect(m.user).toBeUndefined();
      expect(m.consumer).toBeUndefined();
    });

    it("confirms 100 concurrent messages, each receipt naming its own id", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      record(b);
      const ids = Array.from({ length: 100 }, () => newId());
      await Promise.all(ids.map((id, i) => a.send({ id, to: b.jid, body: `[{"n":"p/s/r","v":${i}}]` })));
      await until(() => ra.receipts.length >= 100, 10_000, "100 receipts");
      expect(new Set(ra.receipts.map((r) => r.id))).toEqual(new Set(ids));
    });

    it("keeps messages for a recipient that is offline and delivers them when it comes back", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      const rb = record(b);
      await b.stop();
      expect(b.state).toBe("offline");
      const id = newId();
      await a.send({ id, to: b.jid, body: "[]" });
      await sleep(fx.quietMs);
      expect(rb.messages).toEqual([]);
      await fx.restart(b);
      await until(() => rb.messages.length === 1, 10_000, "stored message");
      expect(rb.messages[0]?.id).toBe(id);
      await until(() => ra.receipts.length === 1, 5_000, "late receipt");
      expect(ra.receipts[0]?.id).toBe(id);
    });

    it("rejects send while stopped with a retryable RELAIS_ERR_XMPP_OFFLINE, and a bad JID with RELAIS_ERR_XMPP_BAD_JID", async () => {
      const { a, b } = await fx.pair();
      const ra = record(a);
      await expect(a.send({ id: newId(), to: "not a jid", body: "[]" })).rejects.toSatisfy(
        (e: unknown) => isRelaisError(e) && e.code === "RELAIS_ERR_XMPP_BAD_JID",
      );
      await a.stop();
      expect(a.state).toBe("offline");
      expect(ra.states.at(-1)).toBe("offline");
      const err: unknown = await a.send({ id: newId(), to: b.jid, body: "[]" }).catch((e: unknown) => e);
      expect(isRelaisError(err) && err.code === "RELAIS_ERR_XMPP_OFFLINE" && err.retryable).toBe(true);
    });

    it("confirm() resolves once the server handled what was sent before, and rejects as retryable when offline", async () => {
      const { a, b } = await fx.pair();
      await a.send({ id: newId(), to: b.jid, body: "[]" });
      await a.confirm();
      expect(a.lastStreamError).toBeNull();
      await a.stop();
      const err: unknown = await a.confirm().catch((e: unknown) => e);
      expect(isRelaisError(err) && err.retryable).toBe(true);
    });

    it("start and stop are idempotent", async () => {
      const { a } = await fx.pair();
      await a.start();
      expect(a.state).toBe("online");
      await a.stop();
      await a.stop();
      expect(a.state).toBe("offline");
    });
  });
}
