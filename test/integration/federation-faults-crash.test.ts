/**
 * Crash faults with a Jepsen-style checker (RELIABILITY.md R4, R10), scaled down: A emits
 * RECORDS records in packs of 50 to B through the run's ejabberd, each gateway on its own
 * PostgreSQL database; a crash kills the database connection and the stream of one instance at a
 * precise point, and a new instance starts on the same database. Bar: every record A accepted is in
 * B's durable model exactly once (lost 0, unexpected 0, duplicate applies 0).
 */
import { afterEach, describe, expect, inject, it } from "vitest";
import { PgDatabase } from "../../src/adapters/postgres/pg-database.js";
import type { FederationOptions } from "../../src/federation/federation-node.js";
import { EjabberdApi } from "../support/ejabberd.js";
import {
  GatewayUnderTest,
  acceptedRecords,
  check,
  drained,
  produce,
  startPair,
  until,
  type CheckResult,
} from "./federation-harness.js";

const RECORDS = 3_000;
const PACK = 50;
const xmpp = inject("ejabberd");
const api = new EjabberdApi(xmpp);
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

async function pair(
  extraA: Partial<FederationOptions> = {},
): Promise<{ a: GatewayUnderTest; b: GatewayUnderTest }> {
  return startPair(
    {
      accounts: [await api.freshAccount("fa"), await api.freshAccount("fb")],
      service: xmpp.service,
      options: { outbox: { ackTimeoutMs: 3_000, backoff: { baseMs: 200, maxMs: 1_000 } } },
      optionsA: extraA,
    },
    cleanup,
  );
}

function report(name: string, r: CheckResult, extra: Record<string, unknown> = {}): void {
  console.log(`[${name}] ${JSON.stringify({ ...r, ...extra })}`);
}

function expectExactlyOnce(r: CheckResult): void {
  expect(r.accepted).toBe(RECORDS);
  expect({ lost: r.lost, unexpected: r.unexpected, duplicateApplies: r.duplicateApplies }).toEqual({
    lost: 0,
    unexpected: 0,
    duplicateApplies: 0,
  });
  expect(r.present).toBe(RECORDS);
}

describe("federation under crashes (R4, R10)", () => {
  it(
    "R4: B dies after the Inbox commit, before the receipt; the same id is resent and applied once",
    { timeout: 60_000 },
    async () => {
      const { a, b } = await pair();
      let crashes = 0;
      const crashedIds: string[] = [];
      const arm = (): void => {
        let seen = 0;
        b.i.transport.beforeAnswer = (s, v) => {
          seen++;
          // every 7th message of this instance, at most 3 crashes in all: committed, answer lost
          if (v.kind === "accepted" && seen % 7 === 0 && crashes < 3) {
            crashes++;
            crashedIds.push(s.id);
            void (async () => {
              await b.crash();
              await new Promise((r) => setTimeout(r, 300));
              await b.start();
              arm();
            })();
            return false;
          }
          return true;
        };
      };
      arm();
      await produce(a, RECORDS, PACK);
      const ms = await drained(a, 45_000, b);
      await until(() => b.current !== null, 10_000, "B running");
      expect(crashes).toBe(3);
      // each crashed message was committed in B's Inbox before the crash and resent with its id
      for (const id of crashedIds) {
        const rows = await b.i.stores.inbox.find(a.jid, id);
        expect(rows?.status).toBe("applied");
        const out = await a.i.stores.outbox.get(id);
        expect(out?.status).toBe("delivered");
      }
      const r = await check(await acceptedRecords(a), b, "ext-");
      report("R4-B", r, { crashes, drainMs: ms, resends: a.i.node.counters.retried });
      expectExactlyOnce(r);
      expect(r.inboxDuplicates).toBeGreaterThanOrEqual(1);
    },
  );

  it(
    "R4: A dies after send, before marking sent; the restarted A resends the same ids, applied once",
    { timeout: 60_000 },
    async () => {
      const { a, b } = await pair();
      let crashes = 0;
      const crashedIds: string[] = [];
      const arm = (): void => {
        let sends = 0;
        const t = a.i.transport;
        t.lastSend = (st) => {
          sends++;
          if (sends !== 9 || crashes >= 2) return false;
          crashes++;
          crashedIds.push(st.id);
          // B's receipt for it is lost too (ejabberd may hand it to the next session: not here)
          a.dropReceiptsNext.add(st.id);
          return true; // A hears nothing after this send (no receipt is processed)
        };
        t.afterSend = async (st) => {
          if (st.id !== crashedIds[crashedIds.length - 1] || !t.cut) return;
          // The stanza is on the wire and reaches B; this send has not returned, so the row is
          // never marked sent: A dies between the two.
          await new Promise((r) => setTimeout(r, 150));
          const dying = a.crash(); // the database refuses everything from here on
          void (async () => {
            await dying;
            await new Promise((r) => setTimeout(r, 300));
            await a.start();
            arm();
          })();
        };
      };
      arm();
      await produce(a, RECORDS, PACK);
      await new Promise((r) => setTimeout(r, 100));
      const ms = await drained(a, 45_000, b);
      expect(crashes).toBe(2);
      const r = await check(await acceptedRecords(a), b, "ext-");
      const resent = (await a.i.stores.outbox.list({ limit: 1000 })).filter((row) => row.attempts > 1);
      const crashedRows = await Promise.all(crashedIds.map((id) => a.i.stores.outbox.get(id)));
      expect(crashedRows.map((x) => x?.status)).toEqual(crashedIds.map(() => "delivered"));
      expect(crashedRows.every((x) => (x?.attempts ?? 0) >= 2)).toBe(true);
      // the crashed sends went out again with the same id; B holds each once, applied
      expect(resent.length).toBeGreaterThanOrEqual(crashes);
      for (const x of resent) {
        expect(x.status).toBe("delivered");
        expect((await b.i.stores.inbox.find(a.jid, x.messageId))?.status).toBe("applied");
      }
      report("R4-A", r, { crashes, drainMs: ms, resent: resent.length });
      expectExactlyOnce(r);
      expect(r.inboxDuplicates).toBeGreaterThanOrEqual(1);
    },
  );

  it(
    "R10: a clean stop mid-batch exits within 10 s, puts in-flight rows back to pending, nothing lost",
    { timeout: 60_000 },
    async () => {
      const { a, b } = await pair({ stopTimeoutMs: 1_500 });
      let stopMs = -1;
      let sendingAfterStop = -1;
      let stopped = null as Promise<void> | null;
      let sends = 0;
      // SIGTERM arrives while a batch is being sent, and that send hangs (a stalled stream) longer
      // than the stop allows: the rows of the batch are still 'sending' when stop() gives up waiting.
      a.i.transport.beforeSend = async () => {
        if (++sends !== 12 || stopped) return;
        const t0 = Date.now();
        stopped = (async () => {
          await a.stop();
          stopMs = Date.now() - t0;
          // what a new process would find, before its own recovery runs
          const probe = new PgDatabase(a.spec.dbUrl, { max: 1 });
          const r = await probe.query<{ n: string }>(
            "SELECT count(*) AS n FROM outbox WHERE status = 'sending'",
          );
          sendingAfterStop = Number(r.rows[0]?.n);
          await probe.close();
          await a.start();
        })();
        await new Promise((r) => setTimeout(r, 4_000));
      };
      await produce(a, RECORDS, PACK);
      await until(() => stopped !== null, 30_000, "stop triggered");
      await stopped;
      const ms = await drained(a, 45_000, b);
      expect(stopMs).toBeGreaterThanOrEqual(0);
      expect(stopMs).toBeLessThan(10_000);
      expect(sendingAfterStop).toBe(0);
      const r = await check(await acceptedRecords(a), b, "ext-");
      report("R10", r, { stopMs, drainMs: ms });
      expectExactlyOnce(r);
    },
  );
});
