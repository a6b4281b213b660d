/**
 * R9, the server's side: a pack under Relais' stanza limit but over the XMPP server's
 * max_stanza_size. ejabberd ends the sender's stream on such a stanza (policy-violation), taking
 * whatever else was in flight with it; each reconnect used to cost every row in flight an
 * attempt, until good rows were dead-lettered with the poison. Now the rows in flight are resent
 * one at a time, each confirmed by the server, and only the one it refuses is dead-lettered.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_OWNER } from "../../src/federation/testing/fixtures.js";
import { startEjabberd, type Ejabberd } from "../support/ejabberd.js";
import { acceptedFromOutbox, check, drained, produce, startPair } from "./federation-harness.js";

const SERVER_MAX_STANZA = 8 * 1024;
let server: Ejabberd;
const cleanup: (() => Promise<void>)[] = [];
beforeAll(async () => {
  server = await startEjabberd({ maxStanzaSize: SERVER_MAX_STANZA });
});
afterAll(async () => {
  await server.dispose();
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

describe("a pack over the XMPP server's max_stanza_size (R9)", () => {
  it(
    "only that message is dead-lettered (RELAIS_ERR_FED_SERVER_REFUSED); the messages in flight with it are delivered exactly once",
    { timeout: 90_000 },
    async () => {
      // Relais' own limit (64 KiB default) is above the server's: a misconfiguration to survive.
      const { a, b } = await startPair(
        {
          accounts: [await server.api.freshAccount("la"), await server.api.freshAccount("lb")],
          service: server.info.service,
          options: { outbox: { ackTimeoutMs: 2_000, maxAttempts: 4, backoff: { baseMs: 100, maxMs: 400 } } },
        },
        cleanup,
      );

      await produce(a, 500, 50);
      const big = a.i.gateway.applyUpdates(FIXTURE_OWNER, [
        {
          provider: "dev-big",
          service: "s",
          resource: "r",
          value: "x".repeat(12_000),
          timestamp: 1_800_000_000_000,
        },
      ]);
      expect(big.rejected).toEqual([]);
      await a.i.node.runJob("push-outbox");
      await produce(a, 500, 50, () => undefined, 500);
      await drained(a, 30_000, b);

      const rows = await a.i.stores.outbox.list({ limit: 1000 });
      const dead = rows.filter((r) => r.status === "dead");
      const bigRow = rows.find((r) => r.body.includes("dev-big"));
      const good = rows.filter((r) => r !== bigRow);
      const r = await check(await acceptedFromOutbox(a.i.stores.outbox, ["delivered"]), b, "ext-");
      console.log(
        `[R9 server limit] ${JSON.stringify({ ...r, dead: dead.map((d) => ({ attempts: d.attempts, lastError: d.lastError })), goodAttempts: Math.max(...good.map((g) => g.attempts)) })}`,
      );
      expect(dead).toHaveLength(1);
      expect(bigRow?.status).toBe("dead");
      expect(bigRow?.lastError).toMatch(/^RELAIS_ERR_FED_SERVER_REFUSED: .*policy-violation/);
      expect(good.every((g) => g.status === "delivered")).toBe(true);
      expect(good).toHaveLength(20);
      expect({
        accepted: r.accepted,
        present: r.present,
        lost: r.lost,
        unexpected: r.unexpected,
        dup: r.duplicateApplies,
      }).toEqual({ accepted: 1_000, present: 1_000, lost: 0, unexpected: 0, dup: 0 });
    },
  );
});
