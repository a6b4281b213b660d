/**
 * Network, peer and poison-message faults with the Jepsen-style checker (RELIABILITY.md R2, R7,
 * R9), scaled down, on a private ejabberd with a small offline quota (OFFLINE_QUOTA messages per
 * user; more are bounced with resource-constraint). Each test has its own accounts and databases.
 *
 * - R2: A reaches ejabberd through a TCP proxy: a 20 s black hole mid-transfer (dead link detected
 *   ≤ 15 s, reconnection once the route is back), then 200 ms of latency each way (no false
 *   alarm), then connections cut now and then.
 * - R7: B's gateway is stopped while A emits ~300 messages: ejabberd keeps OFFLINE_QUOTA of them and
 *   bounces the rest; A keeps resending what was not receipted, everything arrives once B is back.
 * - R9: poison messages (refused by B, larger than the stanza limit, never answered by B) are
 *   dead-lettered after N attempts, the good traffic around them keeps flowing, and the admin API
 *   lists them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/adapters/http/app.js";
import { coreNorthbound } from "../../src/adapters/http/core-adapter.js";
import { RelaisError } from "../../src/core/errors.js";
import type { TransportState } from "../../src/core/ports.js";
import type { FederationOptions } from "../../src/federation/federation-node.js";
import { FIXTURE_OWNER, addConsumer } from "../../src/federation/testing/fixtures.js";
import { startEjabberd, type Ejabberd } from "../support/ejabberd.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import {
  GatewayUnderTest,
  acceptedFromOutbox,
  acceptedRecords,
  check,
  drained,
  produce,
  startPair,
  until,
  type CheckResult,
} from "./federation-harness.js";

const OFFLINE_QUOTA = 50;
const ADMIN = "faults-net-admin-token-42";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let server: Ejabberd;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startEjabberd({ offlineQuota: OFFLINE_QUOTA });
});
afterAll(async () => {
  await server.dispose();
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

async function pair(
  opts: Partial<FederationOptions>,
  serviceA = server.info.service,
): Promise<{ a: GatewayUnderTest; b: GatewayUnderTest; userB: string }> {
  const [ja, jb] = [await server.api.freshAccount("na"), await server.api.freshAccount("nb")];
  const { a, b } = await startPair(
    { accounts: [ja, jb], service: server.info.service, serviceA, options: opts },
    cleanup,
  );
  return { a, b, userB: jb.user };
}

function expectExactlyOnce(r: CheckResult, records: number): void {
  expect(r.accepted).toBe(records);
  expect({
    present: r.present,
    lost: r.lost,
    unexpected: r.unexpected,
    duplicateApplies: r.duplicateApplies,
  }).toEqual({ present: records, lost: 0, unexpected: 0, duplicateApplies: 0 });
}

describe("federation under network, peer and poison faults (R2, R7, R9)", () => {
  it(
    "R2: 20 s black hole between A and ejabberd: dead link seen ≤ 15 s, reconnected; then 200 ms latency and cut connections: nothing lost, nothing applied twice",
    { timeout: 120_000 },
    async () => {
      const proxy = await TcpProxy.start({ host: "127.0.0.1", port: server.info.port });
      cleanup.push(() => proxy.stop());
      const { a, b } = await pair(
        { outbox: { ackTimeoutMs: 3_000, backoff: { baseMs: 200, maxMs: 1_000 } } },
        `xmpp://127.0.0.1:${proxy.port}`,
      );
      const states: { at: number; state: TransportState }[] = [];
      a.i.transport.stateChanged = (state) => states.push({ at: Date.now(), state });

      // phase 1: the black hole, mid-transfer
      let holeAt = 0;
      const hole: { over: Promise<void> | null } = { over: null };
      await produce(a, 2_000, 50, (k) => {
        if (k !== 12) return;
        holeAt = Date.now();
        proxy.blackhole();
        hole.over = (async () => {
          await sleep(20_000);
          proxy.blackhole(false);
        })();
      });
      expect(hole.over).not.toBeNull();
      await hole.over;
      const liftedAt = Date.now();
      await a.i.transport.inner.whenOnline(30_000);
      const reconnectedMs = Date.now() - liftedAt;
      const drain1 = await drained(a, 30_000, b);
      const lostAt = states.find((s) => s.at >= holeAt && s.state !== "online")?.at;
      expect(lostAt).toBeDefined();
      const detectedMs = lostAt! - holeAt;

      // phase 2: 200 ms each way, no false dead-link alarm
      proxy.latencyMs = 200;
      const before = states.length;
      const t2 = Date.now();
      await produce(a, 1_000, 50, () => undefined, 2_000);
      const drain2 = await drained(a, 30_000, b);
      const latencyTransferMs = Date.now() - t2;
      const changesUnderLatency = states.slice(before).map((s) => s.state);
      proxy.latencyMs = 0;

      // phase 3: connections cut now and then
      const beforeCuts = states.length;
      let cuts = 0;
      await produce(
        a,
        1_000,
        50,
        (k) => {
          if (k % 7 === 3) {
            proxy.cutAll();
            cuts++;
          }
        },
        3_000,
      );
      const drain3 = await drained(a, 30_000, b);
      const reconnects = states.slice(beforeCuts).filter((x) => x.state === "online").length;

      await b.i.gateway.flush();
      const r = await check(await acceptedRecords(a), b, "ext-");
      console.log(
        `[R2] ${JSON.stringify({ ...r, detectedMs, reconnectedMs, drain1, latencyTransferMs, drain2, changesUnderLatency, cuts, reconnects, drain3, resends: a.i.node.counters.retried })}`,
      );
      expect(detectedMs).toBeLessThanOrEqual(15_000);
      expect(latencyTransferMs).toBeGreaterThanOrEqual(400); // receipts came back through the delay
      expect(changesUnderLatency).toEqual([]);
      expect(cuts).toBeGreaterThanOrEqual(2);
      expect(reconnects).toBeGreaterThanOrEqual(1);
      expectExactlyOnce(r, 4_000);
    },
  );

  it(
    "R7: B stopped while A emits 300 messages, offline quota 50: A resends what was not receipted, all delivered once after B returns",
    { timeout: 90_000 },
    async () => {
      const { a, b, userB } = await pair({
        outbox: { ackTimeoutMs: 3_000, backoff: { baseMs: 200, maxMs: 2_000 } },
      });
      await b.stop();
      const offAt = Date.now();
      let maxOffline = 0;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          maxOffline = Math.max(maxOffline, await server.api.offlineCount(userB));
          await sleep(200);
        }
      })();
      await produce(a, 3_000, 10); // 300 messages
      const messages = (await a.i.stores.outbox.countByStatus()) as Record<string, number>;
      // B stays away a while longer: A keeps retrying (bounces, unconfirmed resends)
      while (Date.now() - offAt < 12_000) {
        await a.i.node.runJob("fetch-outbox", { scheduled: true });
        await sleep(250);
      }
      watching = false;
      await watch;
      const whileOffline = await a.i.stores.outbox.countByStatus();
      const backAt = Date.now();
      await b.start();
      const drainMs = await drained(a, 45_000, b);
      const doneAfterReturnMs = Date.now() - backAt;
      await b.i.gateway.flush();
      const rows = await a.i.stores.outbox.list({ limit: 1000 });
      const errors = [...new Set(rows.map((x) => x.lastError?.split(" from ")[0] ?? null))];
      const r = await check(await acceptedRecords(a), b, "ext-");
      console.log(
        `[R7] ${JSON.stringify({ ...r, messages: Object.values(messages).reduce((x, y) => x + y, 0), maxOffline, whileOffline, bounced: a.i.node.counters.bounced, resends: a.i.node.counters.retried, maxAttempts: Math.max(...rows.map((x) => x.attempts)), drainMs, doneAfterReturnMs, errors })}`,
      );
      expect(rows.length).toBe(300);
      expect(rows.every((x) => x.status === "delivered")).toBe(true);
      // the quota was reached and the server bounced the rest: the test exercised what it claims
      expect(maxOffline).toBe(OFFLINE_QUOTA);
      expect(a.i.node.counters.bounced).toBeGreaterThan(0);
      expect(whileOffline.delivered).toBe(0);
      expectExactlyOnce(r, 3_000);
    },
  );

  it(
    "R7 with backoffs of tens of seconds: the first receipt from the returning B gets A's waiting rows resent at once",
    { timeout: 90_000 },
    async () => {
      // Bounced rows wait 5 s, then 10 s, then 20 s…: without the receipt, delivery would take
      // until their next attempt, long after B is back.
      const { a, b, userB } = await pair({
        outbox: { ackTimeoutMs: 30_000, backoff: { baseMs: 5_000, maxMs: 60_000 } },
      });
      await b.stop();
      const offAt = Date.now();
      await produce(a, 1_000, 10); // 100 messages: the offline quota takes 50, the rest bounce
      while (Date.now() - offAt < 15_000) {
        await a.i.node.runJob("fetch-outbox", { scheduled: true });
        await sleep(500);
      }
      const rows = await a.i.stores.outbox.list({ status: "pending", limit: 1000 });
      const waitMs = Math.max(...rows.map((x) => x.nextAttemptAt)) - Date.now();
      const bounced = a.i.node.counters.bounced;
      expect(await server.api.offlineCount(userB)).toBe(OFFLINE_QUOTA);
      const backAt = Date.now();
      await b.start();
      await drained(a, 60_000, b);
      const doneAfterReturnMs = Date.now() - backAt;
      await b.i.gateway.flush();
      const r = await check(await acceptedRecords(a), b, "ext-");
      console.log(
        `[R7 fast return] ${JSON.stringify({ ...r, waiting: rows.length, waitMs, bounced, doneAfterReturnMs })}`,
      );
      expect(bounced).toBeGreaterThan(0);
      expect(rows.length).toBeGreaterThan(0);
      expect(waitMs).toBeGreaterThan(5_000); // without the receipt they would still wait that long
      expect(doneAfterReturnMs).toBeLessThan(5_000);
      expectExactlyOnce(r, 1_000);
    },
  );

  it(
    "R9: poison messages (refused by B, oversize, never answered) are dead-lettered after N attempts, the queue keeps moving, the admin API lists them",
    { timeout: 60_000 },
    async () => {
      const MAX_ATTEMPTS = 4;
      const { a, b } = await pair({
        stanzaLimit: 16 * 1024,
        outbox: { ackTimeoutMs: 1_000, maxAttempts: MAX_ATTEMPTS, backoff: { baseMs: 100, maxMs: 400 } },
      });
      // a consumer whose data B does not accept (B grants alice's account ext-* only)
      await addConsumer(
        { gateway: a.i.gateway, stores: a.i.stores, jid: a.jid },
        { targetJid: b.jid, federatedUser: "alice@a", account: "reader", selector: "poison-*" },
      );
      await a.i.node.refresh();
      // B chokes on anything about dev-crash (a message that kills its handler every time)
      b.i.transport.arrived = (s) => {
        if (s.body.includes("dev-crash")) throw new RelaisError("RELAIS_ERR_FED_APPLY_FAILED", "poison");
      };
      const t0 = 1_800_000_000_000;
      const poison = async (provider: string, value: unknown) => {
        const res = a.i.gateway.applyUpdates(FIXTURE_OWNER, [
          { provider, service: "s", resource: "r", value, timestamp: t0 },
        ]);
        expect(res.rejected).toEqual([]);
        await a.i.node.runJob("push-outbox");
      };

      await produce(a, 500, 50);
      await poison("dev-crash", 1);
      await poison("poison-1", 2);
      await poison("dev-big", "x".repeat(20_000));
      const poisonedAt = Date.now();
      await produce(a, 1_000, 50, () => undefined, 500);
      // the good messages sent after the poison arrive while it is still being retried
      await until(
        async () => (await a.i.stores.outbox.countByStatus()).delivered === 30,
        20_000,
        "every good message delivered",
      );
      const goodDoneMs = Date.now() - poisonedAt;
      const crashRowWhenGoodDone = (await a.i.stores.outbox.list({ limit: 1000 })).find((x) =>
        x.body.includes("dev-crash"),
      );
      await drained(a, 30_000, b);
      const deadAfterMs = Date.now() - poisonedAt;

      const http = await buildHttpApp({
        gateway: coreNorthbound(a.i.gateway),
        admin: a.i.stores,
        adminToken: ADMIN,
        logLevel: "silent",
      });
      cleanup.push(() => http.stop());
      const headers = { authorization: `Bearer ${ADMIN}` };
      const byStatus = await http.app.inject({ method: "GET", url: "/api/v1/outbox?status=dead", headers });
      const deadList = await http.app.inject({ method: "GET", url: "/api/v1/outbox/dead", headers });
      const countsRes = await http.app.inject({ method: "GET", url: "/api/v1/outbox/counts", headers });
      expect(byStatus.statusCode).toBe(200);
      const items = byStatus.json<{ items: { body: string; attempts: number; lastError: string }[] }>().items;
      const dead = Object.fromEntries(
        items.map((x) => [
          /dev-crash|poison-1|dev-big/.exec(x.body)?.[0] ?? "?",
          { attempts: x.attempts, code: x.lastError.split(":")[0] },
        ]),
      );
      const r = await check(await acceptedFromOutbox(a.i.stores.outbox, ["delivered"]), b, "ext-");
      console.log(
        `[R9] ${JSON.stringify({ ...r, dead, goodDoneMs, crashRowWhenGoodDone: crashRowWhenGoodDone?.status, crashAttemptsWhenGoodDone: crashRowWhenGoodDone?.attempts, deadAfterMs, counts: countsRes.json() })}`,
      );
      expect(dead).toEqual({
        "dev-crash": { attempts: MAX_ATTEMPTS, code: "RELAIS_ERR_FED_UNCONFIRMED" },
        "poison-1": { attempts: 1, code: "RELAIS_ERR_FED_PEER_REJECTED" },
        "dev-big": { attempts: 1, code: "RELAIS_ERR_FED_OVERSIZE" },
      });
      expect(deadList.json<{ items: unknown[] }>().items).toHaveLength(3);
      expect(countsRes.json()).toMatchObject({ delivered: 30, dead: 3, pending: 0, sending: 0, sent: 0 });
      expect(crashRowWhenGoodDone?.status).not.toBe("delivered");
      expectExactlyOnce(r, 1_500);
    },
  );
});
