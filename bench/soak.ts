/**
 * Soak (RELIABILITY.md R11): records flow A → B through a real-time consumer, a private ejabberd
 * and PostgreSQL at a steady rate for a long time; RSS of the process (A and B both run here) is
 * sampled, and every record's end-to-end latency (written on A → in B's model) is kept.
 * Bars: RSS growth < 10 % after warm-up (the first fifth of the run; medians of the second and
 * the last fifth, as RSS saws with the garbage collector), p99 end-to-end < 5 s.
 *
 *   npm run bench -- soak          SOAK_MINUTES (default 30), SOAK_RECORDS (default 100,000)
 *
 * Not part of the default `npm run bench` set: it runs for SOAK_MINUTES.
 */
import { writeHeapSnapshot } from "node:v8";
import { FIXTURE_OWNER } from "../src/federation/testing/fixtures.js";
import { startEjabberd } from "../test/support/ejabberd.js";
import { pipeline } from "./federation.js";
import { quantile } from "./xmpp-raw.js";

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const RECORDS = Number(process.env.SOAK_RECORDS ?? 100_000);
const RESOURCES = 1_000; // updated in turn, as devices report
const TICK_MS = 100;
/** SOAK_HEAP_SNAPSHOTS=dir: heap snapshots at the end of warm-up and at the end (they bump RSS). */
const SNAPSHOT_DIR = process.env.SOAK_HEAP_SNAPSHOTS;

const BARS = "▁▂▃▄▅▆▇█";
function sparkline(values: readonly number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => BARS[hi === lo ? 0 : Math.round(((v - lo) / (hi - lo)) * 7)]).join("");
}

export interface SoakResult {
  minutes: number;
  records: number;
  received: number;
  rssAfterWarmupMb: number;
  rssEndMb: number;
  rssGrowth: number;
  p50Ms: number;
  p99Ms: number;
}

export async function run(): Promise<SoakResult> {
  const server = await startEjabberd({ accounts: {} });
  // The harness's event log (kept for the fault tests' checker) would grow by every record.
  const p = await pipeline(server, "soak", 64 * 1024, true, false);
  try {
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    p.b.i.gateway.onEvent((e) => {
      if (e.kind !== "DATA") return;
      const key = `${e.uri}=${String(e.newValue)}`;
      const t = sentAt.get(key);
      if (t === undefined) return;
      latencies.push(performance.now() - t);
      sentAt.delete(key);
    });
    const durationMs = MINUTES * 60_000;
    const ticks = Math.max(1, Math.floor(durationMs / TICK_MS));
    const perTick = Math.max(1, Math.round(RECORDS / ticks));
    const rss: number[] = [];
    let sent = 0;
    const t0 = performance.now();
    console.log(
      `soak: ${MINUTES} min, ${perTick} records every ${TICK_MS} ms over ${RESOURCES} resources (≈ ${perTick * ticks} records)`,
    );
    for (let tick = 0; tick < ticks; tick++) {
      const updates = [];
      for (let k = 0; k < perTick; k++) {
        const i = sent % RESOURCES;
        const value = sent; // unique: B's event says which record arrived
        sentAt.set(`/ext-dev-soak/s/r${i}=${value}`, performance.now());
        updates.push({ provider: "dev-soak", service: "s", resource: `r${i}`, value, timestamp: Date.now() });
        sent++;
      }
      p.a.i.gateway.applyUpdates(FIXTURE_OWNER, updates);
      if (tick % Math.max(1, Math.floor(10_000 / TICK_MS)) === 0) {
        const m = process.memoryUsage();
        const mb = (n: number): string => (n / 1e6).toFixed(0);
        rss.push(m.rss / 1e6);
        const s = Math.round((performance.now() - t0) / 1000);
        console.log(
          `  ${s} s: ${sent} sent, ${latencies.length} received, RSS ${mb(m.rss)} MB, heap used ${mb(m.heapUsed)} / ` +
            `total ${mb(m.heapTotal)} MB, external ${mb(m.external)} MB (array buffers ${mb(m.arrayBuffers)} MB)`,
        );
      }
      if (SNAPSHOT_DIR !== undefined && (tick === Math.floor(ticks / 5) || tick === ticks - 1))
        console.log(`  heap snapshot: ${writeHeapSnapshot(`${SNAPSHOT_DIR}/soak-${tick}.heapsnapshot`)}`);
      const next = t0 + (tick + 1) * TICK_MS;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    const deadline = Date.now() + 60_000;
    while (sentAt.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // RSS saws up and down with the garbage collector (±20 % here): compare the median of the
    // fifth after warm-up with the median of the last fifth rather than two single samples.
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const fifth = Math.max(1, Math.floor(rss.length / 5));
    const rssAfterWarmup = median(rss.slice(fifth, 2 * fifth));
    const rssEnd = median(rss.slice(-fifth));
    latencies.sort((a, b) => a - b);
    const result: SoakResult = {
      minutes: MINUTES,
      records: sent,
      received: latencies.length,
      rssAfterWarmupMb: rssAfterWarmup,
      rssEndMb: rssEnd,
      rssGrowth: (rssEnd - rssAfterWarmup) / rssAfterWarmup,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
    };
    console.log(
      `RSS every 10 s: ${sparkline(rss)} (${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB)`,
    );
    console.log("| measurement | figure | bar |");
    console.log("|---|---|---|");
    console.log(
      `| records sent / received on B | ${result.records} / ${result.received} (never arrived: ${sentAt.size}) | all |`,
    );
    console.log(
      `| RSS, median of the 2nd fifth → of the last fifth | ${rssAfterWarmup.toFixed(0)} → ${rssEnd.toFixed(0)} MB (${(result.rssGrowth * 100).toFixed(1)} %) | < 10 % |`,
    );
    console.log(
      `| end-to-end A → B | p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms | p99 < 5 s |`,
    );
    return result;
  } finally {
    await p.close();
    await server.dispose();
  }
}

const isMain = process.argv[1] !== undefined && /bench[/\\]soak\.[jt]s$/.test(process.argv[1]);
if (isMain) await run();
