/**
 * MQTT connector against the real Mosquitto on 127.0.0.1:1883 (unique topic prefixes per test)
 * and the core Gateway: wildcard subscriptions with plain, JSON and SenML payloads, SET/ACT to
 * command topics, the persistent session (clean: false), reconnects through a TCP proxy, and bad
 * payloads that are counted while the connector keeps going.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { MqttClient } from "mqtt";
import { encodePack } from "../../src/senml/index.js";
import { systemClock } from "../../src/core/ports.js";
import { createConnectors, type ConnectorManager, type MqttConnector } from "../../src/connectors/index.js";
import {
  ADMIN,
  MQTT_URL,
  makeGateway,
  mqttClient,
  recordingLogger,
  tcpProxy,
  topicPrefix,
  valueOf,
  waitFor,
} from "./connector-support.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(docs: unknown[]) {
  const logger = recordingLogger();
  const gateway = await makeGateway();
  const { manager } = await createConnectors({ gateway, logger, clock: systemClock });
  await manager.apply(docs);
  await manager.start();
  cleanups.push(async () => {
    await manager.stop();
    await gateway.stop();
  });
  return { gateway, manager, logger };
}

async function client(): Promise<MqttClient> {
  const c = await mqttClient();
  cleanups.push(() => c.endAsync());
  return c;
}

async function up(manager: ConnectorManager, name: string): Promise<MqttConnector> {
  const c = manager.get(name) as MqttConnector;
  expect(await c.whenUp(5_000)).toBe(true);
  return c;
}

function mqttDoc(
  name: string,
  mapping: unknown[],
  extra: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
) {
  return {
    kind: "mqtt",
    name,
    options: {
      url: MQTT_URL,
      allowHosts: ["127.0.0.1"],
      clientId: `relais-test-${name}`,
      // Tests leave no session behind on the shared broker, except the one about sessions.
      clean: true,
      reconnectPeriodMs: 100,
      ...options,
    },
    mapping,
    ...extra,
  };
}

describe("MQTT connector: topics to resources", () => {
  it("maps plain, JSON and SenML payloads from wildcard topics into the model", async () => {
    const t = topicPrefix("ingest");
    const name = `m${Date.now().toString(36)}`;
    const { gateway, manager } = await setup([
      mqttDoc(name, [
        { topic: `${t}/plain/+/temperature`, format: "plain", target: "{1}/env/temperature", unit: "Cel" },
        {
          topic: `${t}/json/#`,
          format: "json",
          values: [
            { target: "{#}/power/active", pointer: "/p", unit: "W" },
            { target: "{#}/power/ok", expression: "status = 'ok'" },
          ],
        },
        { topic: `${t}/senml`, format: "senml" },
      ]),
    ]);
    const c = await up(manager, name);
    const pub = await client();
    await pub.publishAsync(`${t}/plain/room-1/temperature`, "21.5", { qos: 1 });
    await pub.publishAsync(`${t}/json/meter-7`, JSON.stringify({ p: 312.5, status: "ok" }), { qos: 1 });
    await pub.publishAsync(
      `${t}/senml`,
      JSON.stringify([
        { bn: "door-3/state/", bt: 1.7e9, n: "open", vb: true },
        { n: "count", v: 4 },
      ]),
      { qos: 1 },
    );
    await pub.publishAsync(
      `${t}/senml`,
      Buffer.from(encodePack([{ n: "gps-1/pos/speed", v: 12.25, t: 1.7e9, u: "m/s" }], "cbor")),
      { qos: 1 },
    );
    await waitFor(() => c.status().counters.updates === 6, 5_000, "6 updates");
    expect(valueOf(gateway, "/room-1/env/temperature")).toBe(21.5);
    expect(valueOf(gateway, "/meter-7/power/active")).toBe(312.5);
    expect(valueOf(gateway, "/meter-7/power/ok")).toBe(true);
    expect(valueOf(gateway, "/door-3/state/open")).toBe(true);
    expect(valueOf(gateway, "/door-3/state/count")).toBe(4);
    expect(valueOf(gateway, "/gps-1/pos/speed")).toBe(12.25);
    const speed = gateway.get(ADMIN, "/gps-1/pos/speed") as { response: Record<string, unknown> };
    expect(speed.response).toMatchObject({ timestamp: 1.7e12, unit: "m/s" });
    expect(c.status()).toMatchObject({
      state: "up",
      counters: { messages: 4, payloadErrors: 0, mappingErrors: 0 },
    });
  });

  it("counts non-JSON, wrong-shape, bad SenML and oversize payloads, and keeps going", async () => {
    const t = topicPrefix("bad");
    const name = `bad${Date.now().toString(36)}`;
    const { gateway, manager, logger } = await setup([
      mqttDoc(
        name,
        [
          {
            topic: `${t}/json`,
            format: "json",
            values: [{ target: "dev/env/t", pointer: "/t", type: "float" }],
          },
          { topic: `${t}/senml`, format: "senml" },
        ],
        {},
        { maxPayloadBytes: 64 },
      ),
    ]);
    const c = await up(manager, name);
    const pub = await client();
    await pub.publishAsync(`${t}/json`, "not json", { qos: 1 });
    await pub.publishAsync(`${t}/json`, JSON.stringify({ t: "hot" }), { qos: 1 });
    await pub.publishAsync(`${t}/senml`, JSON.stringify([{ n: "x", v: "nope" }]), { qos: 1 });
    await pub.publishAsync(`${t}/senml`, JSON.stringify([{ n: "only-one-segment", v: 1 }]), { qos: 1 });
    await pub.publishAsync(`${t}/json`, JSON.stringify({ t: 1, pad: "x".repeat(100) }), { qos: 1 });
    await pub.publishAsync(`${t}/json`, JSON.stringify({ t: 18.5 }), { qos: 1 });
    await waitFor(() => c.status().counters.messages === 6, 5_000, "6 messages");
    await waitFor(() => valueOf(gateway, "/dev/env/t") === 18.5, 5_000, "the good message");
    expect(c.status().counters).toMatchObject({ payloadErrors: 3, mappingErrors: 2, updates: 1 });
    expect(c.status().state).toBe("up");
    expect(new Set(logger.codes())).toEqual(
      new Set(["RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID", "RELAIS_ERR_CONNECTOR_MAPPING_FAILED"]),
    );
  });
});

describe("MQTT connector: commands", () => {
  it("publishes SET and ACT to command topics with QoS 1", async () => {
    const t = topicPrefix("cmd");
    const name = `cmd${Date.now().toString(36)}`;
    const { gateway, manager } = await setup([
      mqttDoc(name, [{ topic: `${t}/state/+`, format: "plain", target: "lamp-1/light/{1}" }], {
        commands: [
          {
            target: "lamp-1/light/level",
            on: "SET",
            type: "integer",
            topic: `${t}/set/{provider}/{resource}`,
          },
          {
            target: "lamp-1/light/blink",
            on: "ACT",
            parameters: [{ name: "times", type: "integer" }],
            topic: `${t}/act/blink`,
            payload: { cmd: "blink", n: "{param.times}" },
          },
        ],
      }),
    ]);
    await up(manager, name);
    const sub = await client();
    const got: { topic: string; payload: string; qos: number }[] = [];
    sub.on("message", (topic, payload, packet) =>
      got.push({ topic, payload: payload.toString(), qos: packet.qos }),
    );
    await sub.subscribeAsync(`${t}/#`, { qos: 1 });
    const set = (await gateway.set(ADMIN, "/lamp-1/light/level", 80)) as { statusCode: number };
    expect(set.statusCode).toBe(200);
    const act = (await gateway.act(ADMIN, "/lamp-1/light/blink", { times: 3 })) as { statusCode: number };
    expect(act.statusCode).toBe(200);
    await waitFor(() => got.length === 2, 5_000, "2 commands");
    expect(got).toEqual([
      { topic: `${t}/set/lamp-1/level`, payload: "80", qos: 1 },
      { topic: `${t}/act/blink`, payload: JSON.stringify({ cmd: "blink", n: 3 }), qos: 1 },
    ]);
    expect(valueOf(gateway, "/lamp-1/light/level")).toBe(80);
  });
});

describe("MQTT connector: session and reconnects", () => {
  it("keeps a persistent session: QoS 1 messages sent while stopped arrive after restart", async () => {
    const t = topicPrefix("session");
    const name = `sess${Date.now().toString(36)}`;
    const doc = mqttDoc(
      name,
      [{ topic: `${t}/v/+`, format: "plain", target: "sess/v/{1}" }],
      {},
      { clean: false },
    );
    const { gateway, manager } = await setup([doc]);
    await up(manager, name);
    await manager.stop();
    const pub = await client();
    for (let i = 0; i < 5; i++) await pub.publishAsync(`${t}/v/r${i}`, String(i), { qos: 1 });
    await manager.start();
    const c = await up(manager, name);
    await waitFor(() => c.status().counters.updates === 5, 5_000, "5 queued messages");
    expect([0, 1, 2, 3, 4].map((i) => valueOf(gateway, `/sess/v/r${i}`))).toEqual([0, 1, 2, 3, 4]);
    // Leave no session behind on the shared broker.
    await manager.apply([]);
    const cleaner = await mqttClient({ clientId: `relais-test-${name}`, clean: true });
    await cleaner.endAsync();
  });

  it("reconnects after the connection drops and resubscribes", async () => {
    const proxy = await tcpProxy(1883);
    cleanups.push(() => proxy.close());
    const t = topicPrefix("reconnect");
    const name = `rc${Date.now().toString(36)}`;
    const { gateway, manager } = await setup([
      mqttDoc(
        name,
        [{ topic: `${t}/x`, format: "plain", target: "rc/v/x" }],
        {},
        {
          url: `mqtt://127.0.0.1:${proxy.port}`,
          clean: true,
        },
      ),
    ]);
    const c = await up(manager, name);
    proxy.cut();
    await waitFor(() => c.status().state === "down", 5_000, "disconnect seen");
    await waitFor(() => c.status().state === "up", 5_000, "reconnected");
    expect(c.status().counters.reconnects).toBeGreaterThanOrEqual(1);
    expect(c.status().counters.connects).toBeGreaterThanOrEqual(2);
    const pub = await client();
    await pub.publishAsync(`${t}/x`, "42", { qos: 1 });
    await waitFor(() => valueOf(gateway, "/rc/v/x") === 42, 5_000, "message after reconnect");
  });

  it("refuses a broker outside the allow-list or on a metadata address", async () => {
    const { manager, logger } = await setup([
      mqttDoc(
        "far",
        [{ topic: "x", format: "plain", target: "a/b/c" }],
        {},
        { url: "mqtt://broker.example.org:1883" },
      ),
      mqttDoc(
        "meta",
        [{ topic: "x", format: "plain", target: "a/b/c" }],
        {},
        {
          url: "mqtt://169.254.169.254:1883",
          allowHosts: ["169.254.169.254"],
        },
      ),
    ]);
    for (const n of ["far", "meta"])
      expect(manager.get(n)!.status(), n).toMatchObject({
        state: "down",
        lastError: { code: "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN" },
      });
    expect(logger.codes().filter((x) => x === "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN")).toHaveLength(2);
  });
});
