/**
 * Federation benchmark (issue 8): through a private ejabberd and PostgreSQL (127.0.0.1:5432,
 * database `test`, trust auth; RELAIS_BENCH_PG_ADMIN_URL overrides), two gateways A → B.
 *
 *   npx tsx bench/federation.ts          (or `npm run bench -- federation`)
 *
 * 1. Baseline: raw @xmpp/client message rate (one sender → one receiver, bodies the size of the
 *    pipeline's messages) and round trip p50/p99.
 * A and B run in one process for the real-time run and B in a process of its own
 * (bench/federation-peer.ts) for the throughput runs, as gateways are deployed.
 *
 * 2. Pipeline messages/s: records written on A's local system, extracted by push-outbox into packs
 *    of ~25 records (2 KiB stanza limit), sent, applied on B; timed until every value is durable on
 *    B (Inbox rows marked applied after the ValueStore flush) and A's values flushed too.
 *    Goal ≥ 0.5× the raw message rate.
 * 3. Pipeline records/s with packed SenML (64 KiB stanzas). Goal ≥ 20× the raw message rate.
 * 4. Real-time latency at light load: a consumer with realtime=true, one change every 20 ms on A,
 *    time until B's model has it. Goal p99 < 50 ms.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { xml } from "@xmpp/client";
import pg from "pg";
import { PgDatabase } from "../src/adapters/postgres/pg-database.js";
import { migrate } from "../src/adapters/postgres/migrate.js";
import { PgValueStore } from "../src/adapters/postgres/value-store.js";
import { FIXTURE_OWNER, addConsumer } from "../src/federation/testing/fixtures.js";
import { startEjabberd, type Ejabberd } from "../test/support/ejabberd.js";
import { quantile, rawClient } from "./xmpp-raw.js";
import { GatewayUnderTest, seedRecords, until, wirePair } from "../test/integration/federation-harness.js";

const ADMIN_URL = process.env.RELAIS_BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const RAW_N = Number(process.env.FED_BENCH_RAW_N ?? 10_000);
const MSG_RECORDS = Number(process.env.FED_BENCH_MSG_RECORDS ?? 50_000);
const BULK_RECORDS = Number(process.env.FED_BENCH_BULK_RECORDS ?? 200_000);
const RT_SAMPLES = Number(process.env.FED_BENCH_RT_SAMPLES ?? 300);
/** Stanza limit of the messages/s run: it sets how many records a message carries. */
const MSG_STANZA = Number(process.env.FED_BENCH_MSG_STANZA ?? 2048);

export interface FederationBenchResult {
  raw: { bodyBytes: number; perSecond: number; p50Ms: number; p99Ms: number };
  messages: { messages: number; records: number; seconds: number; perSecond: number; ratioToRaw: number };
  records: {
    messages: number;
    records: number;
    seconds: number;
    perSecond: number;
    ratioToRawMessages: number;
  };
  realtime: { samples: number; p50Ms: number; p99Ms: number };
  /** PostgreSQL alone: what one durable value per record costs, on each side. */
  floor: { rows: number; usPerRowWall: number; usPerRowPgCpu: number; ceilingRecordsPerSecond: number };
}

/**
 * The floor under the records/s figure: PgValueStore.saveBatch of new rows alone (what A's and B's
 * flushes do for every record), in batches of 5,000, nothing else running. Both sides write one
 * row per record, so even with Relais itself free the two cores carry at most
 * cores / (2 × PostgreSQL CPU per row) records/s.
 */
async function valueFloor(rows = 40_000): Promise<FederationBenchResult["floor"]> {
  const d = await database("floor");
  const db = new PgDatabase(d.url, { max: 1 });
  try {
    const store = new PgValueStore(db);
    const batch = (from: number, n: number) =>
      Array.from({ length: n }, (_, k) => ({
        provider: `ext-dev-${Math.floor((from + k) / 1000)}`,
        service: "s",
        resource: `r${from + k}`,
        kind: "SENSOR" as const,
        valueType: "number",
        value: from + k + 0.25,
        timestamp: 1_700_000_000_000 + from + k,
        metadata: {},
      }));
    await store.saveBatch(batch(-5_000, 5_000)); // warm-up
    const cpu0 = cpuSeconds(0).PostgreSQL;
    const t0 = performance.now();
    for (let k = 0; k < rows; k += 5_000) await store.saveBatch(batch(k, 5_000));
    const wall = (performance.now() - t0) * 1000;
    const pgCpu = (cpuSeconds(0).PostgreSQL - cpu0) * 1e6;
    const usPerRowPgCpu = pgCpu / rows;
    return {
      rows,
      usPerRowWall: wall / rows,
      usPerRowPgCpu,
      ceilingRecordsPerSecond: (availableParallelism() * 1e6) / (2 * usPerRowPgCpu),
    };
  } finally {
    await db.close();
    await d.drop();
  }
}

async function rawBaseline(server: Ejabberd, body: string): Promise<FederationBenchResult["raw"]> {
  const d = server.info.domain;
  const a = await rawClient(server, "rawa", "pw");
  const b = await rawClient(server, "rawb", "pw");
  try {
    const rate = async (n: number): Promise<number> => {
      let got = 0;
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      b.on("stanza", (s) => {
        if (s.is("message") && s.getChild("body") && ++got === n) done();
      });
      const t0 = performance.now();
      for (let i = 0; i < n; i++)
        void a.send(xml("message", { to: `rawb@${d}`, id: `r${i}` }, xml("body", {}, body)));
      await all;
      b.removeAllListeners("stanza");
      return n / ((performance.now() - t0) / 1000);
    };
    await rate(500);
    const perSecond = await rate(RAW_N);
    // round trip: a → b, b echoes → a, one at a time
    b.on("stanza", (s) => {
      if (s.is("message") && s.getChild("body"))
        void b.send(xml("message", { to: `rawa@${d}/bench`, id: s.attrs.id }, xml("body", {}, "ok")));
    });
    const samples: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        const h = (s: { is(n: string): boolean; attrs: Record<string, string | undefined> }) => {
          if (s.is("message") && s.attrs.id === `e${i}`) {
            a.removeListener("stanza", h);
            resolve();
          }
        };
        a.on("stanza", h);
        void a.send(xml("message", { to: `rawb@${d}`, id: `e${i}` }, xml("body", {}, body)));
      });
      samples.push(performance.now() - t0);
    }
    samples.sort((x, y) => x - y);
    return {
      bodyBytes: Buffer.byteLength(body),
      perSecond,
      p50Ms: quantile(samples, 0.5),
      p99Ms: quantile(samples, 0.99),
    };
  } finally {
    await a.stop().catch(() => undefined);
    await b.stop().catch(() => undefined);
  }
}

async function database(tag: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `relais_bench_${tag}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const db = new PgDatabase(url.toString(), { max: 1 });
  await migrate(db);
  await db.close();
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function pipeline(
  server: Ejabberd,
  tag: string,
  stanzaLimit: number,
  realtime: boolean,
  recordEvents = true,
): Promise<{ a: GatewayUnderTest; b: GatewayUnderTest; close: () => Promise<void> }> {
  const [da, db] = [await database(`${tag}a`), await database(`${tag}b`)];
  const common = {
    service: server.info.service,
    options: { stanzaLimit, outbox: { batchSize: 500 } },
    recordEvents,
  };
  const a = new GatewayUnderTest({
    name: `A${tag}`,
    jid: `fa${tag}@${server.info.domain}`,
    password: "pw",
    dbUrl: da.url,
    ...common,
  });
  const b = new GatewayUnderTest({
    name: `B${tag}`,
    jid: `fb${tag}@${server.info.domain}`,
    password: "pw",
    dbUrl: db.url,
    ...common,
  });
  await server.api.register(`fa${tag}`, "pw");
  await server.api.register(`fb${tag}`, "pw");
  await a.start();
  await b.start();
  await wirePair(a, b, { realtime });
  return {
    a,
    b,
    close: async () => {
      await a.stop();
      await b.stop();
      await da.drop();
      await db.drop();
    },
  };
}

/** A → B with B in its own process; B's progress is read from its database. */
async function pipelineApart(
  server: Ejabberd,
  tag: string,
  stanzaLimit: number,
): Promise<{
  a: GatewayUnderTest;
  bApplied: () => Promise<number>;
  bRecords: () => Promise<number>;
  bPid: number;
  close: () => Promise<void>;
}> {
  const [da, db] = [await database(`${tag}a`), await database(`${tag}b`)];
  const aJid = `fa${tag}@${server.info.domain}`;
  const bJid = `fb${tag}@${server.info.domain}`;
  await server.api.register(`fa${tag}`, "pw");
  await server.api.register(`fb${tag}`, "pw");
  // Compiled by `npm run bench` (build/bench) or run from the sources through tsx.
  const compiled = import.meta.url.endsWith(".js");
  const peer = fileURLToPath(
    new URL(compiled ? "./federation-peer.js" : "./federation-peer.ts", import.meta.url),
  );
  // FED_BENCH_PEER_NODE_ARGS: extra node flags for B, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
  const nodeArgs = process.env.FED_BENCH_PEER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const args = [...nodeArgs, ...(compiled ? [peer] : ["--import", "tsx", peer])];
  const child: ChildProcess = spawn(process.execPath, args, {
    env: {
      ...process.env,
      FED_PEER: JSON.stringify({
        name: `B${tag}`,
        jid: bJid,
        password: "pw",
        service: server.info.service,
        dbUrl: db.url,
        stanzaLimit,
        senderJid: aJid,
      }),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("READY")) resolve();
    });
    child.once("exit", (code) => {
      reject(new Error(`peer exited with ${String(code)}`));
    });
  });
  const a = new GatewayUnderTest({
    name: `A${tag}`,
    jid: aJid,
    password: "pw",
    dbUrl: da.url,
    service: server.info.service,
    options: { stanzaLimit, outbox: { batchSize: 500 } },
    recordEvents: false,
  });
  await a.start();
  await addConsumer(
    { gateway: a.i.gateway, stores: a.i.stores, jid: a.jid },
    {
      targetJid: bJid,
      federatedUser: "alice@a",
      account: "reader",
      selector: "dev-*",
      mapping: { provider: "ext-*" },
    },
  );
  await a.i.node.refresh();
  const q = new pg.Client({ connectionString: db.url });
  await q.connect();
  const count = async (sql: string): Promise<number> =>
    Number((await q.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
  return {
    a,
    bPid: child.pid ?? 0,
    bApplied: () => count("SELECT count(*) AS n FROM inbox WHERE status = 'applied'"),
    bRecords: () =>
      count("SELECT count(*) AS n FROM resource_values WHERE provider LIKE 'ext-dev-%' AND ts IS NOT NULL"),
    close: async () => {
      await q.end();
      await a.stop();
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      await da.drop();
      await db.drop();
    },
  };
}

/**
 * Connector writes on A in chunks, each followed by a push-outbox run (the sender drains
 * meanwhile, as in a running gateway) → wire → B applied and durable; A's values flushed too.
 */
interface BProbe {
  applied: () => Promise<number>;
  records: () => Promise<number>;
  pid: number;
}

/** CPU seconds used so far by A (this process), B, every PostgreSQL process and ejabberd (Linux /proc). */
function cpuSeconds(bPid: number): Record<"A" | "B" | "PostgreSQL" | "ejabberd", number> {
  const hz = 100; // USER_HZ on Linux
  const ticks = (stat: string): number => {
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]); // utime + stime
  };
  const out = {
    A: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    B: 0,
    PostgreSQL: 0,
    ejabberd: 0,
  };
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    if (Number(pid) === bPid) out.B += ticks(stat) / hz;
    else if (comm === "postgres") out.PostgreSQL += ticks(stat) / hz;
    else if (comm === "beam.smp") out.ejabberd += ticks(stat) / hz;
  }
  return out;
}

async function bulk(a: GatewayUnderTest, b: BProbe, from: number, records: number, chunk = 2_000) {
  const before = await b.applied();
  const cpu0 = cpuSeconds(b.pid);
  const t0 = performance.now();
  let messages = 0;
  for (let k = 0; k < records; k += chunk) {
    const n = Math.min(chunk, records - k);
    seedRecords(a.i.gateway, from + k, n, { provider: (i) => `dev-${Math.floor(i / 1000)}` });
    const push = await a.i.node.runJob("push-outbox");
    messages += push.job === "push-outbox" ? (push.report?.messages ?? 0) : 0;
    await new Promise((r) => setImmediate(r));
  }
  const queued = performance.now();
  await a.i.gateway.flush();
  const flushedA = performance.now();
  await until(
    async () => (await b.applied()) === before + messages,
    300_000,
    "every message applied and durable on B",
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(b.pid);
  const perRecord = (Object.keys(cpu1) as (keyof typeof cpu1)[])
    .map((k) => `${k} ${(((cpu1[k] - cpu0[k]) * 1e6) / records).toFixed(1)}`)
    .join(", ");
  console.log(`  CPU per record (µs, PostgreSQL counts every backend on the server): ${perRecord}`);
  console.log(
    `  ${records} records / ${messages} messages: all in A's Outbox after ${((queued - t0) / 1000).toFixed(2)} s, ` +
      `A durable after ${((flushedA - t0) / 1000).toFixed(2)} s, all applied and durable on B after ${seconds.toFixed(2)} s`,
  );
  const stored = await b.records();
  if (stored < from + records) throw new Error(`B holds ${stored} of ${from + records} records`);
  return { messages, records, seconds };
}

export async function run(): Promise<FederationBenchResult> {
  const server = await startEjabberd({ accounts: { rawa: "pw", rawb: "pw" } });
  try {
    // 1 + 2: message rate, bodies of ~25 records (the pipeline's message size under 2 KiB stanzas)
    const p1 = await pipelineApart(server, "m", MSG_STANZA);
    const b1 = { applied: p1.bApplied, records: p1.bRecords, pid: p1.bPid };
    let messages: FederationBenchResult["messages"];
    let raw: FederationBenchResult["raw"];
    try {
      await bulk(p1.a, b1, 0, 2_000); // warm-up
      const sample = (await p1.a.i.stores.outbox.list({ limit: 1 }))[0]!.body;
      raw = await rawBaseline(server, sample);
      const m = await bulk(p1.a, b1, 2_000, MSG_RECORDS);
      const perSecond = m.messages / m.seconds;
      messages = { ...m, perSecond, ratioToRaw: perSecond / raw.perSecond };
    } finally {
      await p1.close();
    }
    // 3: records/s with 64 KiB packs
    const p2 = await pipelineApart(server, "r", 64 * 1024);
    const b2 = { applied: p2.bApplied, records: p2.bRecords, pid: p2.bPid };
    let recordsResult: FederationBenchResult["records"];
    try {
      await bulk(p2.a, b2, 0, 5_000);
      const r = await bulk(p2.a, b2, 5_000, BULK_RECORDS, 20_000);
      const perSecond = r.records / r.seconds;
      recordsResult = { ...r, perSecond, ratioToRawMessages: perSecond / raw.perSecond };
    } finally {
      await p2.close();
    }
    // 4: real-time latency at light load
    const p3 = await pipeline(server, "t", 64 * 1024, true);
    let realtime: FederationBenchResult["realtime"];
    try {
      const latencies: number[] = [];
      const pending = new Map<string, number>();
      p3.b.i.gateway.onEvent((e) => {
        if (e.kind !== "DATA") return;
        const t = pending.get(e.uri);
        if (t !== undefined) {
          latencies.push(performance.now() - t);
          pending.delete(e.uri);
        }
      });
      for (let i = 0; i < RT_SAMPLES + 20; i++) {
        const uri = `/ext-dev-rt/s/r${i}`;
        pending.set(uri, performance.now());
        p3.a.i.gateway.applyUpdates(FIXTURE_OWNER, [
          { provider: "dev-rt", service: "s", resource: `r${i}`, value: i, timestamp: Date.now() },
        ]);
        await new Promise((r) => setTimeout(r, 20));
      }
      await until(() => pending.size === 0, 10_000, "every real-time change on B");
      const sorted = latencies.slice(20).sort((x, y) => x - y); // first 20: warm-up
      realtime = { samples: sorted.length, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
    } finally {
      await p3.close();
    }
    const floor = await valueFloor();
    const result = { raw, messages, records: recordsResult, realtime, floor };
    console.log("| measurement | figure | goal |");
    console.log("|---|---|---|");
    console.log(
      `| raw @xmpp/client, ${raw.bodyBytes} B bodies | ${Math.round(raw.perSecond)} msg/s, round trip p50 ${raw.p50Ms.toFixed(2)} / p99 ${raw.p99Ms.toFixed(2)} ms | baseline |`,
    );
    console.log(
      `| pipeline, ${messages.messages} messages of ~${Math.round(messages.records / messages.messages)} records | ${Math.round(messages.perSecond)} msg/s = ${messages.ratioToRaw.toFixed(2)}× raw | ≥ 0.5× |`,
    );
    console.log(
      `| pipeline, ${recordsResult.records} records in ${recordsResult.messages} packs (64 KiB) | ${Math.round(recordsResult.perSecond)} records/s = ${recordsResult.ratioToRawMessages.toFixed(1)}× raw msg/s | ≥ 20× |`,
    );
    console.log(
      `| real-time change A → B, 1 per 20 ms, ${realtime.samples} samples | p50 ${realtime.p50Ms.toFixed(1)} ms, p99 ${realtime.p99Ms.toFixed(1)} ms | p99 < 50 ms |`,
    );
    console.log(
      `| floor: PostgreSQL alone, ${floor.rows} value rows (PgValueStore.saveBatch) | ${floor.usPerRowPgCpu.toFixed(1)} µs CPU per row (${floor.usPerRowWall.toFixed(1)} µs wall); one row per record on each side → ≤ ${Math.round(floor.ceilingRecordsPerSecond)} records/s on ${availableParallelism()} cores = ${(floor.ceilingRecordsPerSecond / raw.perSecond).toFixed(1)}× raw msg/s | — |`,
    );
    return result;
  } finally {
    await server.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  run().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
