/**
 * Northbound HTTP benchmarks (loopback only, bounded; `npm run bench -- http` or `run()`):
 *
 * 1. REST `GET …/resources/{r}/GET` through the whole stack (auth hook, core policy, envelope,
 *    metrics hook) vs. a bare fastify route returning the same bytes, in the same run, with
 *    autocannon; five pairs of runs, the median ratio. Goal ≥ 0.7×.
 * 2. SET (REST) → WebSocket notification latency, p50/p99 over sequential SETs.
 * 3. Sustained notifications/s to 1,000 WebSocket subscribers of one resource.
 *
 * `RELAIS_BENCH_QUICK=1` shortens every phase.
 */
import { createRequire } from "node:module";
import fastify from "fastify";
import WebSocket from "ws";
import { NodeCrypto } from "../src/adapters/crypto/node-crypto.js";
import { buildHttpApp } from "../src/adapters/http/app.js";
import { coreNorthbound } from "../src/adapters/http/core-adapter.js";
import { Gateway } from "../src/core/gateway.js";
import { MemoryValueStore } from "../src/core/model/memory-value-store.js";
import { systemClock } from "../src/core/ports.js";
import { MemorySecurityStore } from "../src/core/security/memory-security-store.js";
import { principal } from "../src/core/security/principal.js";
import { SimulatorConnector } from "../src/connectors/simulator/simulator.js";

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
  headers?: Record<string, string>;
  workers?: number;
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;
const QUICK = process.env["RELAIS_BENCH_QUICK"] === "1";
const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";
const RES = "/sensinact/providers/thermostat-1/services/climate/resources";

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function setup() {
  const gateway = new Gateway({
    clock: systemClock,
    crypto: new NodeCrypto({ cost: 2 ** 10 }),
    valueStore: new MemoryValueStore(),
    securityStore: new MemorySecurityStore(),
    bootstrapAdminToken: ADMIN_TOKEN,
    subscriptionLimits: { perCaller: 5000, total: 10_000 },
  });
  // A simulator without ticks: values change only when the bench says so.
  const sim = new SimulatorConnector({
    scheduler: { every: () => () => undefined },
    devices: [
      { kind: "thermostat", id: "thermostat-1" },
      { kind: "meter", id: "meter-1" },
    ],
  });
  await gateway.registerConnector(sim);
  await gateway.start();
  const http = await buildHttpApp({
    gateway: coreNorthbound(gateway),
    logLevel: "silent",
    ws: { maxSubscriptionsPerConnection: 10 },
  });
  const { port } = await http.start({ host: "127.0.0.1", port: 0 });
  return { gateway, http, port, base: `http://127.0.0.1:${port}` };
}

async function restVsBare(base: string): Promise<Record<string, number>> {
  const url = `${base}${RES}/temperature/GET`;
  const bytes = await (await fetch(url)).text();
  const bare = fastify({ logger: false });
  bare.get("/bare", async (_req, reply) => reply.type("application/json; charset=utf-8").send(bytes));
  await bare.listen({ host: "127.0.0.1", port: 0 });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/bare`;
  const duration = QUICK ? 2 : 3;
  const rounds = QUICK ? 1 : 5;
  // Warm-up (JIT) for both sides.
  // The load generator runs in a worker thread so that it does not share the server's event loop.
  await autocannon({ url: bareUrl, connections: 16, duration: 1, workers: 1 });
  await autocannon({ url, connections: 16, duration: 1, workers: 1 });
  // Pairs of runs, the order alternating; the ratio of each pair, then the median: the machine's
  // speed drifts by tens of percent over a minute on a shared VM, a pair sees the same machine.
  const pairs: { bare: number; rest: number; p50: number; p99: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    const first = i % 2 === 0 ? bareUrl : url;
    const a = await autocannon({ url: first, connections: 32, duration, workers: 1 });
    const b = await autocannon({ url: first === url ? bareUrl : url, connections: 32, duration, workers: 1 });
    const [bareRun, restRun] = first === bareUrl ? [a, b] : [b, a];
    if (restRun.errors + restRun.non2xx > 0)
      throw new Error(`REST GET errors: ${restRun.errors} / non-2xx: ${restRun.non2xx}`);
    pairs.push({
      bare: bareRun.requests.average,
      rest: restRun.requests.average,
      p50: restRun.latency.p50,
      p99: restRun.latency.p99,
    });
  }
  pairs.sort((x, y) => x.rest / x.bare - y.rest / y.bare);
  const mid = pairs[Math.floor(pairs.length / 2)]!;
  const ratios = pairs.map((p) => (p.rest / p.bare).toFixed(2)).join(" ");
  await bare.close();
  const ratio = mid.rest / mid.bare;
  console.log(
    `REST GET ${mid.rest.toFixed(0)} req/s (p50 ${mid.p50} ms, p99 ${mid.p99} ms) vs bare fastify ` +
      `${mid.bare.toFixed(0)} req/s, same ${bytes.length} B → ${ratio.toFixed(2)}× (goal ≥ 0.7×; median of ` +
      `${rounds} pairs: ${ratios})`,
  );
  return { restRps: mid.rest, bareRps: mid.bare, ratio };
}

function openWs(wsUrl: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    ws.once("open", () => {
      resolve(ws);
    });
    ws.once("error", reject);
  });
}

function subscribe(ws: WebSocket, uri: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (d: WebSocket.RawData): void => {
      const m = JSON.parse((d as Buffer).toString()) as { requestId?: string; statusCode?: number };
      if (m.requestId !== "sub") return;
      ws.off("message", onMessage);
      if (m.statusCode === 200) resolve();
      else reject(new Error(`subscribe failed: ${JSON.stringify(m)}`));
    };
    ws.on("message", onMessage);
    ws.send(JSON.stringify({ requestId: "sub", method: "SUBSCRIBE", uri }));
  });
}

async function setLatency(base: string, port: number): Promise<Record<string, number>> {
  const ws = await openWs(`ws://127.0.0.1:${port}/sensinact/ws`);
  await subscribe(ws, "/thermostat-1/climate/setpoint");
  const n = QUICK ? 300 : 2000;
  const samples: number[] = [];
  let waiting: ((v: number) => void) | null = null;
  ws.on("message", (d) => {
    const m = JSON.parse((d as Buffer).toString()) as { type?: string; value?: number };
    if (m.type === "SUBSCRIPTION_NOTIFICATION" && waiting) waiting(m.value ?? 0);
  });
  for (let i = 0; i < n; i++) {
    const value = 10 + (i % 15) + (i % 2 === 0 ? 0.5 : 0.25);
    const got = new Promise<number>((resolve) => {
      waiting = resolve;
    });
    const t0 = performance.now();
    const res = await fetch(`${base}${RES}/setpoint/SET`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ parameters: [{ name: "value", type: "float", value }] }),
    });
    await res.arrayBuffer();
    await got;
    samples.push(performance.now() - t0);
  }
  ws.close();
  samples.sort((a, b) => a - b);
  const p50 = pct(samples, 50);
  const p99 = pct(samples, 99);
  console.log(
    `SET (REST) → WebSocket notification: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${n} sequential SETs`,
  );
  return { setToNotifyP50Ms: p50, setToNotifyP99Ms: p99 };
}

async function fanOut(gateway: Gateway, port: number): Promise<Record<string, number>> {
  const clients = 1000;
  const updates = QUICK ? 50 : 200;
  const sockets: WebSocket[] = [];
  let received = 0;
  for (let i = 0; i < clients; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, clients - i) }, () => openWs(`ws://127.0.0.1:${port}/sensinact/ws`)),
    );
    await Promise.all(batch.map((ws) => subscribe(ws, "/thermostat-1/climate/setpoint")));
    for (const ws of batch)
      ws.on("message", () => {
        received++;
      });
    sockets.push(...batch);
  }
  const owner = principal("bench", "OWNER");
  const expected = clients * updates;
  const t0 = performance.now();
  for (let u = 0; u < updates; u++) {
    // SETs in-process: the figure is the API's fan-out to sockets, not the REST path.
    await gateway.set(owner, "/thermostat-1/climate/setpoint", 5 + (u % 25) + 0.5);
    // Let the event loop flush socket writes every few updates, as a live gateway would.
    if (u % 10 === 9) await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + 60_000;
  while (received < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  const rate = received / secs;
  console.log(
    `fan-out: ${updates} updates × ${clients} WebSocket subscribers = ${received}/${expected} notifications in ` +
      `${secs.toFixed(2)} s → ${(rate / 1000).toFixed(1)} k notifications/s`,
  );
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once("close", () => {
            resolve();
          });
          ws.close();
        }),
    ),
  );
  return { fanOutClients: clients, notificationsPerSec: rate, delivered: received, expected };
}

export async function run(): Promise<Record<string, number>> {
  const { gateway, http, port, base } = await setup();
  try {
    console.log(`Node ${process.version}, loopback 127.0.0.1${QUICK ? " (quick)" : ""}`);
    const a = await restVsBare(base);
    const b = await setLatency(base, port);
    const c = await fanOut(gateway, port);
    return { ...a, ...b, ...c };
  } finally {
    await http.stop({ drainMs: 1000 });
    await gateway.stop();
  }
}

const isMain = process.argv[1] !== undefined && /bench[/\\]http\.[jt]s$/.test(process.argv[1]);
if (isMain) await run();
