/**
 * Connector benchmark (loopback only, bounded):
 *
 * 1. MQTT ingest into the model (MqttConnector → GatewayBridge → core model; QoS 1, PUBACK after
 *    the update is applied) vs. the raw broker throughput in the same run: an mqtt.js publisher →
 *    mqtt.js subscriber (QoS 1), and mosquitto_pub -l → mqtt.js subscriber when mosquitto-clients
 *    is installed. Same broker (127.0.0.1:1883), same message count, same payloads.
 * 2. HTTP poll of 1,000 resources per tick: time per tick with a JSONata `records` mapping and with
 *    1,000 JSON-pointer entries, vs. the bare fetch + JSON.parse of the same answer.
 *
 * `npx tsx bench/connectors.ts` or run(); RELAIS_BENCH_QUICK=1 for a short run.
 */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { connectAsync, type MqttClient } from "mqtt";
import { Gateway } from "../src/core/gateway.js";
import { MemoryValueStore } from "../src/core/model/memory-value-store.js";
import { MemorySecurityStore } from "../src/core/security/memory-security-store.js";
import { InsecureTestCrypto } from "../src/core/testing/fakes.js";
import { silentLogger, systemClock } from "../src/core/ports.js";
import { createConnectors, type HttpConnector, type MqttConnector } from "../src/connectors/index.js";

const QUICK = process.env.RELAIS_BENCH_QUICK === "1";
const N = QUICK ? 3_000 : 20_000;
const TICKS = QUICK ? 5 : 20;
const BROKER = "mqtt://127.0.0.1:1883";
const WINDOW = 100; // QoS 1 publishes awaiting their PUBACK at once
/**
 * End-to-end window: published but not yet received. Mosquitto queues at most
 * max_queued_messages (default 1000) per subscriber and drops the rest, so the publisher must not
 * run further ahead of the receiver than that; the figure is then the pipeline's throughput.
 */
const AHEAD = 800;

async function gateway(): Promise<Gateway> {
  const g = new Gateway({
    clock: systemClock,
    crypto: new InsecureTestCrypto(),
    valueStore: new MemoryValueStore(),
    securityStore: new MemorySecurityStore(),
    flushIntervalMs: 60_000,
  });
  await g.start();
  return g;
}

/** Wakes the publishers when the receiver advances (instead of busy-polling a counter). */
class Progress {
  count = 0;
  private waiters: (() => void)[] = [];
  add(n = 1): void {
    this.count += n;
    for (const w of this.waiters.splice(0)) w();
  }
  next(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("benchmark timed out");
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Publishes n QoS 1 messages, WINDOW awaiting PUBACK, at most AHEAD ahead of the receiver. */
async function publishAll(
  pub: MqttClient,
  topicOf: (i: number) => string,
  payloadOf: (i: number) => string,
  n: number,
  received: Progress,
) {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      while (next - received.count >= AHEAD) await received.next();
      if (next >= n) return;
      const i = next++;
      await pub.publishAsync(topicOf(i), payloadOf(i), { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
}

interface Rate {
  messages: number;
  seconds: number;
  perSecond: number;
}

function rate(messages: number, ms: number): Rate {
  return { messages, seconds: ms / 1000, perSecond: Math.round((messages / ms) * 1000) };
}

async function rawMqtt(prefix: string): Promise<Rate> {
  const sub = await connectAsync(BROKER, { reconnectPeriod: 0 });
  const pub = await connectAsync(BROKER, { reconnectPeriod: 0 });
  const got = new Progress();
  sub.on("message", () => {
    got.add();
  });
  await sub.subscribeAsync(`${prefix}/raw/+/t`, { qos: 1 });
  const t0 = performance.now();
  await publishAll(
    pub,
    (i) => `${prefix}/raw/d${i % 100}/t`,
    (i) => String(20 + (i % 50) / 10),
    N,
    got,
  );
  await until(() => got.count >= N, 60_000);
  const ms = performance.now() - t0;
  await pub.endAsync();
  await sub.endAsync();
  return rate(N, ms);
}

function hasMosquittoPub(): boolean {
  return spawnSync("mosquitto_pub", ["--help"]).error === undefined;
}

/** mosquitto_pub -l (a separate C process) publishes N lines to `topic`, AHEAD ahead of `got`. */
async function mosquittoPublish(topic: string, got: Progress): Promise<number> {
  const t0 = performance.now();
  const child = spawn("mosquitto_pub", ["-h", "127.0.0.1", "-p", "1883", "-q", "1", "-t", topic, "-l"], {
    stdio: ["pipe", "ignore", "inherit"],
  });
  let written = 0;
  while (written < N) {
    const batch: string[] = [];
    while (written < N && written - got.count < AHEAD) batch.push(String(20 + (written++ % 50) / 10));
    if (batch.length > 0) child.stdin.write(batch.join("\n") + "\n");
    else await got.next();
  }
  child.stdin.end();
  await until(() => got.count >= N, 60_000);
  const ms = performance.now() - t0;
  await new Promise((r) => child.once("exit", r));
  return ms;
}

async function rawMosquittoPub(prefix: string): Promise<Rate> {
  const sub = await connectAsync(BROKER, { reconnectPeriod: 0 });
  const got = new Progress();
  sub.on("message", () => {
    got.add();
  });
  const topic = `${prefix}/mpub/t`;
  await sub.subscribeAsync(topic, { qos: 1 });
  const ms = await mosquittoPublish(topic, got);
  await sub.endAsync();
  return rate(N, ms);
}

async function mqttIngest(
  prefix: string,
  format: "plain" | "json",
  publisher: "mqtt.js" | "mosquitto_pub" = "mqtt.js",
): Promise<Rate & { resources: number }> {
  const g = await gateway();
  const { manager } = await createConnectors({ gateway: g, logger: silentLogger, clock: systemClock });
  const name = `bench-${format}`;
  await manager.apply([
    {
      kind: "mqtt",
      name,
      options: {
        url: BROKER,
        allowHosts: ["127.0.0.1"],
        clean: true,
        clientId: `relais-bench-${randomBytes(3).toString("hex")}`,
      },
      mapping: [
        format === "plain"
          ? {
              topic: `${prefix}/${format}/+/t`,
              format: "plain",
              target: "{1}/env/temperature",
              type: "float",
            }
          : {
              topic: `${prefix}/${format}/+/t`,
              format: "json",
              values: [
                { target: "{1}/env/temperature", pointer: "/t", type: "float", unit: "Cel" },
                { target: "{1}/env/battery", pointer: "/b", type: "float" },
              ],
            },
      ],
    },
  ]);
  await manager.start();
  const c = manager.get(name) as MqttConnector;
  if (!(await c.whenUp(5_000)))
    throw new Error("MQTT connector not up: is Mosquitto running on 127.0.0.1:1883?");
  const pub = await connectAsync(BROKER, { reconnectPeriod: 0 });
  const perMessage = format === "plain" ? 1 : 2;
  // A message counts as received once all its values reached the model (DATA events).
  const got = new Progress();
  let data = 0;
  g.onEvent((e) => {
    if (e.kind === "DATA" && e.service !== "admin" && ++data % perMessage === 0) got.add();
  });
  let ms: number;
  if (publisher === "mosquitto_pub") ms = await mosquittoPublish(`${prefix}/${format}/d0/t`, got);
  else {
    const t0 = performance.now();
    await publishAll(
      pub,
      (i) => `${prefix}/${format}/d${i % 100}/t`,
      format === "plain"
        ? (i) => String(20 + (i % 50) / 10)
        : (i) => JSON.stringify({ t: 20 + (i % 50) / 10, b: 90 }),
      N,
      got,
    );
    await until(() => got.count >= N, 120_000);
    ms = performance.now() - t0;
  }
  const errors = c.status().counters;
  if (errors.payloadErrors || errors.mappingErrors || errors.rejectedUpdates)
    throw new Error(`ingest errors: ${JSON.stringify(errors)}`);
  await pub.endAsync();
  await manager.stop();
  await g.stop();
  return { ...rate(N, ms), resources: g.model.size };
}

function stats(samples: number[]): { median: number; p95: number; min: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: +at(0.5).toFixed(2), p95: +at(0.95).toFixed(2), min: +s[0]!.toFixed(2) };
}

async function httpPoll(): Promise<Record<string, { median: number; p95: number; min: number }>> {
  let tick = 0;
  const server = createServer((_req, res) => {
    tick++;
    const devices = Array.from({ length: 1000 }, (_, i) => ({ id: `dev-${i}`, value: i + tick / 10 }));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ devices }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/devices`;

  const bare: number[] = [];
  for (let i = 0; i < TICKS + 2; i++) {
    const t0 = performance.now();
    const r = await fetch(url);
    JSON.parse(await r.text());
    if (i >= 2) bare.push(performance.now() - t0);
  }

  const g = await gateway();
  const { manager } = await createConnectors({ gateway: g, logger: silentLogger, clock: systemClock });
  const common = { allowHosts: ["127.0.0.1"], conditional: false, timeoutMs: 10_000 };
  await manager.apply([
    {
      kind: "http",
      name: "records",
      options: { url, ...common },
      schedule: { everyMs: 86_400_000 },
      mapping: [
        { records: 'devices.{"target": id & "/power/active", "value": value, "unit": "W"}', type: "float" },
      ],
    },
    {
      kind: "http",
      name: "pointers",
      options: { url, ...common },
      schedule: { everyMs: 86_400_000 },
      mapping: Array.from({ length: 1000 }, (_, i) => ({
        target: `dev-${i}/power/reactive`,
        pointer: `/devices/${i}/value`,
        type: "float",
      })),
    },
  ]);
  await manager.start();
  const out: Record<string, { median: number; p95: number; min: number }> = {
    "fetch + JSON.parse only": stats(bare),
  };
  // Both first polls (which create the 2 × 1,000 resources) finish before anything is timed.
  for (const name of ["records", "pointers"]) await (manager.get(name) as HttpConnector).settled();
  for (const name of ["records", "pointers"]) {
    const c = manager.get(name) as HttpConnector;
    await c.pollNow(); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < TICKS; i++) {
      const t0 = performance.now();
      const r = await c.pollNow();
      const ms = performance.now() - t0;
      if (r.status !== "updated" || r.updates !== 1000) throw new Error(`poll: ${JSON.stringify(r)}`);
      samples.push(ms);
    }
    out[
      name === "records" ? "connector, JSONata records (1,000 resources)" : "connector, 1,000 JSON pointers"
    ] = stats(samples);
  }
  await manager.stop();
  await g.stop();
  await new Promise<void>((r) =>
    server.close(() => {
      r();
    }),
  );
  return out;
}

export async function run(): Promise<unknown> {
  const prefix = `relais-bench/${randomBytes(4).toString("hex")}`;
  console.log(`MQTT: ${N} QoS 1 messages per measurement, ${WINDOW} in flight, broker ${BROKER}`);
  const raw = await rawMqtt(prefix);
  const mpub = hasMosquittoPub() ? await rawMosquittoPub(prefix) : null;
  const plain = await mqttIngest(prefix, "plain");
  const jsonIngest = await mqttIngest(prefix, "json");
  const plainMpub = mpub ? await mqttIngest(prefix, "plain", "mosquitto_pub") : null;
  const rows = [
    ["raw mqtt.js pub → mqtt.js sub", raw],
    ...(mpub ? [["raw mosquitto_pub -l → mqtt.js sub", mpub] as const] : []),
    ["ingest, plain payload → 1 resource", plain],
    ["ingest, JSON payload → 2 resources (pointers)", jsonIngest],
    ...(plainMpub ? [["ingest, plain, published by mosquitto_pub -l", plainMpub] as const] : []),
  ] as const;
  console.table(
    rows.map(([what, r]) => ({
      measurement: what,
      "messages/s": r.perSecond,
      seconds: +r.seconds.toFixed(2),
      "vs raw mqtt.js": `${(r.perSecond / raw.perSecond).toFixed(2)}×`,
    })),
  );
  if (!mpub) console.log("(mosquitto_pub not installed: raw mqtt.js baseline only)");
  console.log(`HTTP: ${TICKS} polls of a 1,000-device JSON answer per measurement (ms per tick)`);
  const http = await httpPoll();
  console.table(Object.entries(http).map(([measurement, s]) => ({ measurement, ...s })));
  return { mqtt: { raw, mosquittoPub: mpub, plain, json: jsonIngest, plainMosquittoPub: plainMpub }, http };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
