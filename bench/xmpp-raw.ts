/**
 * XMPP baseline: raw @xmpp/client (one sender → one receiver) against the harness ejabberd, then
 * the same through XmppTransport with XEP-0184 receipts, and the ratio of the two.
 *
 *   npx tsx bench/xmpp-raw.ts            (or `npm run bench -- xmpp-raw`)
 *   XMPP_BENCH_N=20000 XMPP_BENCH_RTT=1000 to change the counts.
 *
 * Loopback only, bounded counts. Raw rate = messages / (last received − first sent); raw round
 * trip = one message there and an echo back, one at a time. Transport rate = sends until every
 * receipt is back; transport round trip = send → receipt, one at a time.
 */
import { pathToFileURL } from "node:url";
import { client as xmppClient, xml, type Client, type Element } from "@xmpp/client";
import { XmppTransport } from "../src/adapters/xmpp/xmpp-transport.js";
import { startEjabberd, type Ejabberd } from "../test/support/ejabberd.js";

const N_SMALL = Number(process.env.XMPP_BENCH_N ?? 20_000);
const N_LARGE = Math.max(1, Math.round(N_SMALL / 4));
const RTT_SAMPLES = Number(process.env.XMPP_BENCH_RTT ?? 1_000);

export interface XmppBenchRow {
  path: "raw" | "transport";
  bodyBytes: number;
  messages: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function body(bytes: number): string {
  const unit = '{"n":"meter-1/power/active","u":"W","v":312.5},';
  return `[${unit.repeat(Math.ceil(bytes / unit.length))}`.slice(0, bytes - 1) + "]";
}

/** A bare @xmpp/client as the adapter configures it: PLAIN on loopback, Nagle off, initial presence. */
export async function rawClient(server: Ejabberd, user: string, password: string): Promise<Client> {
  const x = xmppClient({
    service: server.info.service,
    domain: server.info.domain,
    resource: "bench",
    username: user,
    password,
    // PLAIN on loopback: the library's JavaScript SCRAM costs ~1 s per login
    credentials: (authenticate) => authenticate({ username: user, password }, "PLAIN"),
  });
  x.reconnect.stop();
  x.on("error", () => undefined);
  await x.start();
  const sock = x.socket;
  if (sock && typeof sock.setNoDelay === "function") sock.setNoDelay(true); // Nagle: ~44 ms per round trip otherwise
  await x.send(xml("presence"));
  return x;
}

async function rawRate(a: Client, b: Client, to: string, n: number, text: string): Promise<number> {
  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const onStanza = (el: Element) => {
    if (el.name === "message" && el.getChild("body") && ++got === n) done();
  };
  b.on("stanza", onStanza);
  const t0 = performance.now();
  for (let i = 0; i < n; i++)
    await a.send(xml("message", { to, type: "normal", id: `r${i}` }, xml("body", {}, text)));
  await all;
  const secs = (performance.now() - t0) / 1000;
  b.removeListener("stanza", onStanza);
  return n / secs;
}

async function rawRtt(
  a: Client,
  b: Client,
  aJid: string,
  bJid: string,
  n: number,
  text: string,
): Promise<number[]> {
  const echo = (el: Element) => {
    if (el.name === "message" && el.getChild("body")) {
      void b.send(xml("message", { to: aJid, type: "normal", id: el.attrs.id }, xml("body", {}, "ok")));
    }
  };
  b.on("stanza", echo);
  let waiting: ((id: string) => void) | null = null;
  const onBack = (el: Element) => {
    if (el.name === "message" && waiting) waiting(el.attrs.id ?? "");
  };
  a.on("stanza", onBack);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = `e${i}`;
    const t0 = performance.now();
    const back = new Promise<void>((r) => {
      waiting = (got) => {
        if (got === id) r();
      };
    });
    await a.send(xml("message", { to: bJid, type: "normal", id }, xml("body", {}, text)));
    await back;
    samples.push(performance.now() - t0);
  }
  a.removeListener("stanza", onBack);
  b.removeListener("stanza", echo);
  return samples.sort((x, y) => x - y);
}

async function transportRate(
  a: XmppTransport,
  b: XmppTransport,
  n: number,
  text: string,
  tag: string,
): Promise<number> {
  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  a.on("receipt", () => {
    if (++got === n) done();
  });
  b.on("message", async () => ({ kind: "accepted" }));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await a.send({ id: `${tag}-${i}`, to: b.jid, body: text });
  await all;
  return n / ((performance.now() - t0) / 1000);
}

async function transportRtt(
  a: XmppTransport,
  b: XmppTransport,
  n: number,
  text: string,
  tag: string,
): Promise<number[]> {
  let waiting: ((id: string) => void) | null = null;
  a.on("receipt", (id) => waiting?.(id));
  b.on("message", async () => ({ kind: "accepted" }));
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${tag}-${i}`;
    const t0 = performance.now();
    const back = new Promise<void>((r) => {
      waiting = (got) => {
        if (got === id) r();
      };
    });
    await a.send({ id, to: b.jid, body: text });
    await back;
    samples.push(performance.now() - t0);
  }
  return samples.sort((x, y) => x - y);
}

export async function run(): Promise<XmppBenchRow[]> {
  const t0 = Date.now();
  const server = await startEjabberd({
    accounts: { rawa: "pw-a", rawb: "pw-b", trana: "pw-c", tranb: "pw-d" },
  });
  console.log(`ejabberd up with 4 accounts in ${Date.now() - t0} ms (${server.info.service})`);
  const d = server.info.domain;
  const rows: XmppBenchRow[] = [];
  try {
    const a = await rawClient(server, "rawa", "pw-a");
    const b = await rawClient(server, "rawb", "pw-b");
    const ta = new XmppTransport({ service: server.info.service, jid: `trana@${d}`, password: "pw-c" });
    const tb = new XmppTransport({ service: server.info.service, jid: `tranb@${d}`, password: "pw-d" });
    await ta.start();
    await tb.start();
    try {
      for (const [bytes, n] of [
        [300, N_SMALL],
        [10 * 1024, N_LARGE],
      ] as const) {
        const text = body(bytes);
        await rawRate(a, b, `rawb@${d}`, Math.min(500, n), text); // warm-up
        const rawPerSec = await rawRate(a, b, `rawb@${d}`, n, text);
        const rawLat = await rawRtt(a, b, `rawa@${d}/bench`, `rawb@${d}`, RTT_SAMPLES, text);
        rows.push({
          path: "raw",
          bodyBytes: bytes,
          messages: n,
          perSecond: rawPerSec,
          p50Ms: quantile(rawLat, 0.5),
          p99Ms: quantile(rawLat, 0.99),
        });
        await transportRate(ta, tb, Math.min(500, n), text, `w${bytes}`);
        const trPerSec = await transportRate(ta, tb, n, text, `t${bytes}`);
        const trLat = await transportRtt(ta, tb, RTT_SAMPLES, text, `l${bytes}`);
        rows.push({
          path: "transport",
          bodyBytes: bytes,
          messages: n,
          perSecond: trPerSec,
          p50Ms: quantile(trLat, 0.5),
          p99Ms: quantile(trLat, 0.99),
        });
      }
    } finally {
      await ta.stop();
      await tb.stop();
      await a.stop().catch(() => undefined);
      await b.stop().catch(() => undefined);
    }
  } finally {
    await server.dispose();
  }
  console.log("| path | body | messages | msg/s | MB/s | round trip p50 / p99 (ms) | rate vs raw |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const raw = rows.find((x) => x.path === "raw" && x.bodyBytes === r.bodyBytes)!;
    console.log(
      `| ${r.path === "raw" ? "raw @xmpp/client" : "XmppTransport + receipts"} | ${r.bodyBytes} B | ${r.messages} | ${Math.round(r.perSecond)} | ${((r.perSecond * r.bodyBytes) / 1e6).toFixed(1)} | ${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} | ${(r.perSecond / raw.perSecond).toFixed(2)} |`,
    );
  }
  return rows;
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
