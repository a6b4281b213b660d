/**
 * XMPP server faults with a Jepsen-style checker (RELIABILITY.md R1, R3), scaled down: A emits
 * RECORDS records in packs of 50 to B through a private ejabberd that the test kills (-9) or
 * freezes (SIGSTOP) mid-transfer. Bar: every record A accepted is in B's durable model exactly once
 * (lost 0, unexpected 0, duplicate applies 0), nothing stuck in 'sending', done soon after recovery.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startEjabberd, type Ejabberd } from "../support/ejabberd.js";
import {
  GatewayUnderTest,
  acceptedRecords,
  check,
  drained,
  produce,
  startPair,
} from "./federation-harness.js";

const RECORDS = 3_000;
const PACK = 50;
let server: Ejabberd;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startEjabberd({ accounts: { sa: "sa-pw", sb: "sb-pw" } });
});
afterAll(async () => {
  await server.dispose();
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

async function pair(): Promise<{ a: GatewayUnderTest; b: GatewayUnderTest }> {
  const d = server.info.domain;
  return startPair(
    {
      accounts: [
        { jid: `sa@${d}`, password: "sa-pw" },
        { jid: `sb@${d}`, password: "sb-pw" },
      ],
      service: server.info.service,
      options: { outbox: { ackTimeoutMs: 3_000, backoff: { baseMs: 200, maxMs: 1_000 } } },
    },
    cleanup,
  );
}

describe("federation under XMPP server faults (R1, R3)", () => {
  it(
    "R1: ejabberd killed (-9) at 30 %, down 5 s, restarted: nothing lost, nothing applied twice",
    { timeout: 90_000 },
    async () => {
      const { a, b } = await pair();
      let restartedAt = 0;
      await produce(a, RECORDS, PACK, async (k, n) => {
        if (k === Math.floor(n * 0.3)) {
          await server.kill9();
          await new Promise((r) => setTimeout(r, 5_000));
          await server.boot();
          restartedAt = Date.now();
        }
      });
      const ms = await drained(a, 60_000, b);
      const r = await check(await acceptedRecords(a), b, "ext-");
      console.log(
        `[R1] ${JSON.stringify({ ...r, doneAfterRestartMs: Date.now() - restartedAt, drainMs: ms, resends: a.i.node.counters.retried })}`,
      );
      expect(restartedAt).toBeGreaterThan(0);
      expect(r.accepted).toBe(RECORDS);
      expect({ lost: r.lost, unexpected: r.unexpected, duplicateApplies: r.duplicateApplies }).toEqual({
        lost: 0,
        unexpected: 0,
        duplicateApplies: 0,
      });
      expect(Date.now() - restartedAt).toBeLessThan(120_000);
    },
  );

  it(
    "R3: ejabberd frozen (SIGSTOP) 8 s then thawed: nothing lost, nothing stuck in 'sending'",
    { timeout: 90_000 },
    async () => {
      const { a, b } = await pair();
      await produce(a, RECORDS, PACK, async (k, n) => {
        if (k === Math.floor(n * 0.3)) {
          server.pause();
          try {
            await new Promise((r) => setTimeout(r, 8_000));
          } finally {
            server.resume();
          }
        }
      });
      const ms = await drained(a, 60_000, b);
      const counts = await a.i.stores.outbox.countByStatus();
      const r = await check(await acceptedRecords(a), b, "ext-");
      console.log(`[R3] ${JSON.stringify({ ...r, drainMs: ms, outbox: counts })}`);
      expect(counts.sending).toBe(0);
      expect(counts.delivered).toBe(RECORDS / PACK);
      expect(r.accepted).toBe(RECORDS);
      expect({ lost: r.lost, unexpected: r.unexpected, duplicateApplies: r.duplicateApplies }).toEqual({
        lost: 0,
        unexpected: 0,
        duplicateApplies: 0,
      });
    },
  );
});
