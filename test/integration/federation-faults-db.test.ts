/**
 * PostgreSQL faults (RELIABILITY.md R5, R6), scaled down, on a private PostgreSQL cluster that the
 * tests stop and start with pg_ctl (never the run's shared server):
 *
 * - R5: A (built by the composition root, `assemble()`, with its HTTP API and cron jobs) emits
 *   RECORDS records in packs of 50 to B (harness gateway) through the run's ejabberd; both
 *   databases live on the cluster, which is stopped (-m fast, then -m immediate) mid-transfer,
 *   while one of A's sends is in flight (claimed before, to be marked sent after), and started
 *   again DOWN_MS later. Bar: nothing the process would die of (uncaught error, unhandled
 *   rejection), /health/ready answers 503 while PostgreSQL is down and 200 within 10 s of it being
 *   back, and the checker passes (lost 0, unexpected 0, duplicate applies 0, every produced record
 *   in A's Outbox, nothing left 'sending').
 * - R6: `relais start` (the bin) while PostgreSQL is down (12 s instead of 60): /health/live
 *   answers at once, /health/ready 503 (database down), other routes 503 RELAIS_ERR_HTTP_STARTING;
 *   once PostgreSQL is up the gateway migrates its empty database and becomes ready without a
 *   restart.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { BootConfig } from "../../src/config.js";
import { XmppTransport } from "../../src/adapters/xmpp/xmpp-transport.js";
import { isRelaisError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/ports.js";
import { addConsumer, registerPartner } from "../../src/federation/testing/fixtures.js";
import { assemble, type RelaisGateway } from "../../src/main.js";
import { EjabberdApi, freePort } from "../support/ejabberd.js";
import { PostgresCluster } from "../support/postgres.js";
import {
  FaultTransport,
  GatewayUnderTest,
  acceptedFromOutbox,
  check,
  seedRecords,
  until,
} from "./federation-harness.js";

const RECORDS = 2_000;
const PACK = 50;
const DOWN_MS = 5_000;
const ADMIN = "faults-db-admin-token-42";
const KEY = randomBytes(32).toString("base64");
const BIN = new URL("../../bin/relais.js", import.meta.url).pathname;
const xmpp = inject("ejabberd");
const api = new EjabberdApi(xmpp);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let cluster: PostgresCluster;
const cleanup: (() => Promise<void>)[] = [];
// What would end a real process (an 'error' event nobody listens to, a rejection nobody handles):
// vitest only reports them after the run, R5 asserts there are none.
const crashes: unknown[] = [];
const onCrash = (e: unknown): void => {
  crashes.push(e);
};

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
});
afterAll(async () => {
  process.off("uncaughtException", onCrash);
  process.off("unhandledRejection", onCrash);
  await cluster.dispose();
});
afterEach(async () => {
  if (!cluster.isRunning) await cluster.startAgain();
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

async function getJson(url: string, auth = false): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, auth ? { headers: { authorization: `Bearer ${ADMIN}` } } : {});
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

/** Polls `url` until it answers `status` (connection errors count as no answer); ms it took. */
async function untilStatus(url: string, status: number, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  await until(
    async () => {
      try {
        return (await fetch(url)).status === status;
      } catch {
        return false;
      }
    },
    ms,
    what,
  );
  return Date.now() - t0;
}

function bootConfig(over: Partial<BootConfig>): BootConfig {
  return {
    databaseUrl: null,
    dataDir: "./.relais-unused",
    httpHost: "127.0.0.1",
    httpPort: 0,
    secretKey: KEY,
    xmppService: xmpp.service,
    xmppDomain: xmpp.domain,
    xmppJid: null,
    xmppPassword: null,
    xmppAllowInsecure: false,
    adminToken: ADMIN,
    logLevel: "silent",
    ...over,
  };
}

interface Outage {
  /** ms from the stop until /health/ready said 503. */
  notReadyAfterMs: number;
  downComponent: unknown;
  /** ms from PostgreSQL accepting connections again until /health/ready said 200. */
  readyAfterMs: number;
  /** /health/live answered 200 during the whole outage. */
  liveThroughout: boolean;
  /** A's rows left 'sending' by the send the database went away under, when it came back. */
  orphaned: number;
}

/**
 * Stop the cluster (`mode`), keep it down DOWN_MS, start it again; readiness seen by A's API.
 * `down` resolves once PostgreSQL is stopped, `done` with the figures once A is ready again.
 */
function pgOutage(
  a: RelaisGateway,
  mode: "fast" | "immediate",
): { down: Promise<void>; done: Promise<Outage> } {
  const down = cluster.stop(mode);
  const done = (async (): Promise<Outage> => {
    await down;
    const base = a.url!;
    const downAt = Date.now();
    let liveThroughout = true;
    const notReadyAfterMs = await untilStatus(
      `${base}/health/ready`,
      503,
      5_000,
      "ready 503 while PG is down",
    );
    const downComponent = (await getJson(`${base}/health/ready`)).body?.components?.database;
    while (Date.now() - downAt < DOWN_MS) {
      if ((await fetch(`${base}/health/live`)).status !== 200) liveThroughout = false;
      await sleep(250);
    }
    await cluster.startAgain();
    const orphaned = (await a.stores.outbox.countByStatus()).sending;
    const readyAfterMs = await untilStatus(`${base}/health/ready`, 200, 15_000, "ready 200 after PG is back");
    return { notReadyAfterMs, downComponent, readyAfterMs, liveThroughout, orphaned };
  })();
  return { down, done };
}

describe("federation under PostgreSQL faults (R5, R6)", () => {
  for (const mode of ["fast", "immediate"] as const) {
    it(
      `R5: PostgreSQL restarted (-m ${mode}) during writes and drain: A survives, ready 503 then 200 ≤ 10 s, nothing lost or applied twice`,
      { timeout: 60_000 },
      async () => {
        crashes.length = 0;
        const [ja, jb] = [await api.freshAccount("pa"), await api.freshAccount("pb")];
        const outboxOptions = { ackTimeoutMs: 3_000, backoff: { baseMs: 200, maxMs: 1_000 } };
        // A's own XMPP transport, wrapped to place the fault: PostgreSQL goes down while a send is
        // in flight (claimed before, marked sent after), every time.
        const transportA = new FaultTransport(
          new XmppTransport({ service: xmpp.service, jid: ja.jid, password: ja.password }),
        );
        const a = await assemble({
          config: bootConfig({
            databaseUrl: await cluster.freshDatabase(),
            xmppJid: ja.jid,
            xmppPassword: ja.password,
          }),
          logger: silentLogger,
          name: "A",
          transport: transportA,
          federation: { outbox: outboxOptions },
        });
        cleanup.push(() => a.stop());
        const b = new GatewayUnderTest({
          name: "B",
          jid: jb.jid,
          password: jb.password,
          service: xmpp.service,
          dbUrl: await cluster.freshDatabase(),
          options: { outbox: outboxOptions },
        });
        cleanup.push(() => b.stop());
        await a.start();
        await b.start();
        await registerPartner(
          { gateway: b.i.gateway, stores: b.i.stores, jid: b.jid },
          { senderJid: ja.jid, federatedUser: "alice@a", account: "partner-a" },
        );
        await addConsumer(
          { gateway: a.gateway, stores: a.stores, jid: ja.jid },
          {
            targetJid: jb.jid,
            federatedUser: "alice@a",
            account: "reader",
            selector: "dev-*",
            mapping: { provider: "ext-*" },
          },
        );
        await a.federation.refresh();
        await b.i.node.refresh();
        await untilStatus(`${a.url!}/health/ready`, 200, 15_000, "A ready");

        // A's local system keeps writing; push-outbox is retried as its cron would (while the
        // database is down it fails, and nothing it had not committed may be forgotten).
        let armed = false;
        let outage: Promise<Outage> | null = null;
        transportA.beforeSend = async () => {
          if (!armed) return;
          armed = false;
          const o = pgOutage(a, mode);
          outage = o.done;
          await o.down;
        };
        let pushFailures = 0;
        const batches = RECORDS / PACK;
        for (let k = 0; k < batches; k++) {
          seedRecords(a.gateway, k * PACK, PACK);
          if (k === Math.floor(batches * 0.3)) armed = true;
          for (;;) {
            try {
              await a.federation.runJob("push-outbox");
              break;
            } catch (e) {
              if (!isRelaisError(e) || !(e.retryable || e.code === "RELAIS_ERR_FED_JOB_BUSY")) throw e;
              pushFailures++;
              await sleep(100);
            }
          }
        }
        await until(() => outage !== null, 5_000, "the outage began");
        const o = await outage!;

        const t0 = Date.now();
        const state = async () =>
          JSON.stringify({
            outbox: await a.stores.outbox.countByStatus(),
            inbox: await b.i.stores.inbox.countByStatus(),
            stuck: (await a.stores.outbox.list({ status: ["sending", "sent", "pending"], limit: 5 })).map(
              (x) => ({ s: x.status, n: x.attempts, e: x.lastError, by: x.claimedBy, up: x.updatedAt }),
            ),
            transport: a.transport.state,
            jobs: (await a.federation.status()).jobs,
          });
        await until(
          async () => {
            try {
              const c = await a.stores.outbox.countByStatus();
              const ib = await b.i.stores.inbox.countByStatus();
              if (ib.pending + ib.applying > 0) await b.i.node.runJob("fetch-inbox", { scheduled: true });
              if (c.pending + c.sending + c.sent > 0) {
                await a.federation.runJob("fetch-outbox", { scheduled: true });
                return false;
              }
              return ib.pending + ib.applying === 0;
            } catch {
              return false;
            }
          },
          30_000,
          "A's Outbox delivered and B's Inbox applied",
        ).catch(async (e: unknown) => {
          throw new Error(`${(e as Error).message}: ${await state()}`);
        });
        const drainMs = Date.now() - t0;
        await b.i.gateway.flush();
        const counts = await a.stores.outbox.countByStatus();
        const r = await check(await acceptedFromOutbox(a.stores.outbox), b, "ext-");
        const live = await getJson(`${a.url!}/health/live`);
        console.log(
          `[R5-${mode}] ${JSON.stringify({ ...r, ...o, drainMs, pushFailures, outbox: counts, resends: a.federation.counters.retried })}`,
        );
        expect(crashes.map(String)).toEqual([]);
        expect(o.orphaned).toBeGreaterThanOrEqual(1);
        expect(o.liveThroughout).toBe(true);
        expect(o.downComponent).toMatchObject({ up: false });
        expect(o.readyAfterMs).toBeLessThanOrEqual(10_000);
        expect(live.status).toBe(200);
        expect(counts).toMatchObject({ sending: 0, sent: 0, pending: 0, dead: 0 });
        expect(r.accepted).toBe(RECORDS);
        expect({ lost: r.lost, unexpected: r.unexpected, duplicateApplies: r.duplicateApplies }).toEqual({
          lost: 0,
          unexpected: 0,
          duplicateApplies: 0,
        });
      },
    );
  }

  it(
    "R6: relais start while PostgreSQL is down: live at once, ready 503 until the database is up, then 200 without a restart",
    { timeout: 60_000 },
    async () => {
      const dbUrl = await cluster.emptyDatabase(); // the gateway migrates it once it can
      const acct = await api.freshAccount("r6");
      await cluster.stop("fast");
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const spawnedAt = Date.now();
      const proc: ChildProcess = spawn(process.execPath, [BIN, "start"], {
        env: {
          ...process.env,
          RELAIS_DATABASE_URL: dbUrl,
          RELAIS_SECRET_KEY: KEY,
          RELAIS_HTTP_PORT: String(port),
          RELAIS_ADMIN_TOKEN: ADMIN,
          RELAIS_XMPP_SERVICE: xmpp.service,
          RELAIS_XMPP_DOMAIN: xmpp.domain,
          RELAIS_XMPP_JID: acct.jid,
          RELAIS_XMPP_PASSWORD: acct.password,
          RELAIS_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
      proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((r) => {
        proc.once("exit", (code) => {
          r(code);
        });
      });
      cleanup.push(async () => {
        if (proc.exitCode === null) proc.kill("SIGKILL");
        await exited;
      });

      // the process start (tsx transpiling the CLI) is the only wait: nothing waits for the database
      const liveAfterMs = await untilStatus(`${base}/health/live`, 200, 20_000, "/health/live");
      const ready = await getJson(`${base}/health/ready`);
      const gated = await getJson(`${base}/api/v1/outbox/counts`, true);
      expect(ready.status).toBe(503);
      expect(ready.body.components.database.up).toBe(false);
      expect(gated.status).toBe(503);
      expect(gated.body.error.code).toBe("RELAIS_ERR_HTTP_STARTING");
      expect(gated.headers.get("retry-after")).toBe("1");

      // down 12 s in all: the process stays up and keeps saying 503
      let readyWhileDown = 0;
      while (Date.now() - spawnedAt < 12_000) {
        expect(proc.exitCode, output).toBeNull();
        if ((await fetch(`${base}/health/ready`)).status !== 503) readyWhileDown++;
        await sleep(500);
      }
      expect(readyWhileDown).toBe(0);

      await cluster.startAgain();
      const readyAfterMs = await untilStatus(`${base}/health/ready`, 200, 20_000, "ready after PG is up");
      const counts = await getJson(`${base}/api/v1/outbox/counts`, true);
      expect(counts.status).toBe(200);
      expect(proc.exitCode).toBeNull();
      const stopAt = Date.now();
      proc.kill("SIGTERM");
      const code = await exited;
      const stopMs = Date.now() - stopAt;
      console.log(`[R6] ${JSON.stringify({ liveAfterMs, readyAfterMs, stopMs, exit: code })}`);
      expect(readyAfterMs).toBeLessThanOrEqual(10_000);
      expect(code, output).toBe(0);
    },
  );
});
