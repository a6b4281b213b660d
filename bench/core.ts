/**
 * Gateway core benchmark: in-process GET and SET ops/s, notification fan-out, memory with 100k
 * resources, and the cost of the policy check on GET (guarded vs. unguarded, same run).
 *
 *   npx tsx bench/core.ts            (prints a table; RELAIS_BENCH_QUICK=1 for a short run)
 *
 * Memory is measured as RSS growth and absolute RSS after building the model; run it in its own
 * process for a clean figure (bench/run.ts may run other benches before).
 */
import { fileURLToPath } from "node:url";
import { Gateway } from "../src/core/gateway.js";
import { fail, ok } from "../src/core/access/envelopes.js";
import { parseResourcePath } from "../src/core/model/names.js";
import { MemoryValueStore } from "../src/core/model/memory-value-store.js";
import { MemorySecurityStore } from "../src/core/security/memory-security-store.js";
import { emptyPolicy, withGrant, withProfile } from "../src/core/security/policy.js";
import { ANONYMOUS, principal } from "../src/core/security/principal.js";
import { FakeClock, ManualScheduler } from "../src/core/testing/fakes.js";
import { NodeCrypto } from "../src/adapters/crypto/node-crypto.js";
import type { ResourceUpdate } from "../src/core/model/types.js";

export interface CoreBenchResult {
  getOpsPerSec: number;
  getUnguardedOpsPerSec: number;
  policyOverheadPct: number;
  setOpsPerSec: number;
  fanout: { subscribers: number; updatesPerSec: number; notificationsPerSec: number };
  memory: { resources: number; rssMb: number; rssGrowthMb: number; heapUsedMb: number };
}

const ADMIN = principal("bench-admin", "ADMIN");
const OWNER = principal("bench-owner", "OWNER");

async function makeGateway(policy?: unknown): Promise<{ gw: Gateway; clock: FakeClock }> {
  const clock = new FakeClock();
  const securityStore = new MemorySecurityStore();
  if (policy !== undefined) await securityStore.savePolicy(policy);
  const gw = new Gateway({
    clock,
    scheduler: new ManualScheduler(clock),
    crypto: new NodeCrypto(),
    valueStore: new MemoryValueStore(),
    securityStore,
  });
  await gw.start();
  return { gw, clock };
}

function fill(
  gw: Gateway,
  providers: number,
  perProvider: number,
  kind: "SENSOR" | "PROPERTY" = "SENSOR",
): string[] {
  const uris: string[] = [];
  for (let p = 0; p < providers; p++) {
    const batch: ResourceUpdate[] = [];
    for (let r = 0; r < perProvider; r++) {
      batch.push({
        provider: `dev-${p}`,
        service: "data",
        resource: `r${r}`,
        value: p * 1000 + r + 0.5,
        kind,
        metadata: { unit: "W" },
      });
      uris.push(`/dev-${p}/data/r${r}`);
    }
    const res = gw.applyUpdates(OWNER, batch);
    if (res.rejected.length > 0) throw new Error(JSON.stringify(res.rejected[0]));
  }
  return uris;
}

/** Runs `op` for about `ms` milliseconds (after a warm-up) and returns ops/s. */
function measure(ms: number, op: (i: number) => void, warmup = 2000): number {
  for (let i = 0; i < warmup; i++) op(i);
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 1000; k++) op(n++);
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

async function measureAsync(ms: number, op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 5000; i++) await op(i);
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 500; k++) await op(n++);
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

export async function run(options: { quick?: boolean } = {}): Promise<CoreBenchResult> {
  const quick = options.quick ?? process.env.RELAIS_BENCH_QUICK === "1";
  const window = quick ? 300 : 1500;

  // ---- Memory: 100k resources (first, on a fresh heap) ----
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const big = await makeGateway();
  const memUris = fill(big.gw, 1000, 100);
  global.gc?.();
  const mem = process.memoryUsage();
  const memory = {
    resources: big.gw.stats().resources,
    rssMb: mem.rss / 2 ** 20,
    rssGrowthMb: (mem.rss - rss0) / 2 ** 20,
    heapUsedMb: mem.heapUsed / 2 ** 20,
  };
  if (memUris.length !== 100_000) throw new Error("fill failed");

  // ---- GET: guarded (anonymous through a policy tree with patterns) vs unguarded (OWNER bypass) ----
  let policy = withProfile(emptyPolicy(), ["secret-*"], { DESCRIBE: "ADMIN", GET: "ADMIN" });
  policy = withGrant(policy, ["dev-*"], "partner", ["SET", "CREATE"]);
  policy = withProfile(policy, ["dev-*", "data"], { SUBSCRIBE: "AUTHENTICATED" });
  const { gw } = await makeGateway(policy);
  const uris = fill(gw, 100, 100);
  const mask = 8191;
  const pick = uris.slice(0, mask + 1);
  let sink = 0;
  const guarded = (i: number): void => {
    sink += gw.get(ANONYMOUS, pick[i & mask]!).statusCode;
  };
  // The same steps as Gateway.get() without any policy check: look up (by canonical uri, else
  // parsed), build the envelope.
  const unguarded = (i: number): void => {
    const uri = pick[i & mask]!;
    try {
      let node = gw.model.resourceAt(uri);
      if (!node) {
        const p = parseResourcePath(uri);
        node = gw.model.resource(p.provider, p.service, p.resource);
      }
      if (!node) throw new Error(uri);
      sink += ok("GET_RESPONSE", node.uri, Gateway.attribute(node)).statusCode;
    } catch (e) {
      sink += fail("GET_RESPONSE", uri, e).statusCode;
    }
  };
  // Many short interleaved rounds: both sides see the same machine load (the shared dev box is
  // noisy). Throughput: best round of each side; overhead: median of the per-round ratios.
  let g = 0;
  let u = 0;
  const ratios: number[] = [];
  const rounds = quick ? 7 : 21;
  for (let round = 0; round < rounds; round++) {
    const ru = measure(100, unguarded);
    const rg = measure(100, guarded);
    u = Math.max(u, ru);
    g = Math.max(g, rg);
    ratios.push(ru / rg);
  }
  ratios.sort((a, b) => a - b);
  const medianRatio = ratios[Math.floor(ratios.length / 2)]!;
  if (sink !== 0 && sink % 200 !== 0) throw new Error("unexpected status");

  // ---- SET (PROPERTY without a connector; admin caller) ----
  const props = await makeGateway();
  const propUris = fill(props.gw, 10, 100, "PROPERTY");
  let v = 0;
  const setOps = await measureAsync(window, async (i) => {
    props.clock.advance(1);
    const r = await props.gw.set(ADMIN, propUris[i % propUris.length]!, v++);
    if (r.statusCode !== 200) throw new Error(JSON.stringify(r));
  });

  // ---- Fan-out: 100 subscribers on one resource, connector-speed updates ----
  const subscribers = 100;
  const fan = await makeGateway();
  fill(fan.gw, 1, 1);
  let received = 0;
  for (let s = 0; s < subscribers; s++) {
    const r = fan.gw.subscribe(ANONYMOUS, "/dev-0/data/r0", {
      listener: () => {
        received++;
      },
      conditions: [{ operator: ">", operand: -1 }],
    });
    if (r.statusCode !== 200) throw new Error(JSON.stringify(r));
  }
  let x = 0;
  const before = received;
  const t0 = performance.now();
  const updates = measure(window, () => {
    fan.clock.advance(1);
    fan.gw.applyUpdates(OWNER, [{ provider: "dev-0", service: "data", resource: "r0", value: x++ }]);
  });
  const elapsed = performance.now() - t0;
  const notificationsPerSec = ((received - before) * 1000) / elapsed;

  await Promise.all([big.gw.stop(), gw.stop(), props.gw.stop(), fan.gw.stop()]);
  const result: CoreBenchResult = {
    getOpsPerSec: g,
    getUnguardedOpsPerSec: u,
    policyOverheadPct: (medianRatio - 1) * 100,
    setOpsPerSec: setOps,
    fanout: { subscribers, updatesPerSec: updates, notificationsPerSec },
    memory,
  };
  console.log(report(result));
  return result;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function report(r: CoreBenchResult): string {
  return [
    "core benchmark (in-process)",
    `  GET  (anonymous, policy tree)   ${fmt(r.getOpsPerSec)} ops/s`,
    `  GET  (unguarded, same steps)    ${fmt(r.getUnguardedOpsPerSec)} ops/s`,
    `  policy check overhead on GET    ${r.policyOverheadPct.toFixed(1)} %  (median of paired rounds; goal < 20 %)`,
    `  SET  (admin, PROPERTY)          ${fmt(r.setOpsPerSec)} ops/s`,
    `  fan-out: ${r.fanout.subscribers} subscribers        ${fmt(r.fanout.updatesPerSec)} updates/s = ${fmt(r.fanout.notificationsPerSec)} notifications/s`,
    `  memory: ${fmt(r.memory.resources)} resources        RSS ${r.memory.rssMb.toFixed(0)} MB (growth ${r.memory.rssGrowthMb.toFixed(0)} MB, heap ${r.memory.heapUsedMb.toFixed(0)} MB; goal < 300 MB)`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
