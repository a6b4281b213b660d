/**
 * ConnectorManager: connectors described in a config store (`connector.<name>` keys), started,
 * restarted, stopped by reload() without a restart; invalid documents reported with their paths
 * while the others run; status/health/counters for /health/ready and /metrics.
 */
import { afterEach, describe, expect, it } from "vitest";
import { RelaisError } from "../../src/core/errors.js";
import { systemClock } from "../../src/core/ports.js";
import {
  configStoreSource,
  createConnectors,
  userAppCredentials,
  type HttpConnector,
} from "../../src/connectors/index.js";
import {
  json,
  makeGateway,
  recordingLogger,
  startHttpServer,
  valueOf,
  waitFor,
} from "./connector-support.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The ConfigStore role of src/federation/stores.ts, in memory. */
class MemoryConfig {
  readonly entries = new Map<string, unknown>();
  async list() {
    return [...this.entries].map(([key, value]) => ({ key, value, updatedAt: 0 }));
  }
}

describe("ConnectorManager", () => {
  it("starts, restarts and stops connectors from the config table on reload, without a restart", async () => {
    let temp = 1;
    const srv = await startHttpServer((req, _body, res) => {
      json(res, { temp, path: req.url });
    });
    cleanups.push(() => srv.close());
    const config = new MemoryConfig();
    const doc = (url: string, target: string) => ({
      kind: "http",
      options: { url, allowHosts: ["127.0.0.1"], timeoutMs: 1000 },
      schedule: { everyMs: 3_600_000 },
      mapping: [{ target, pointer: "/temp" }],
    });
    config.entries.set("connector.a", doc(`${srv.url}/a`, "a/env/t"));
    config.entries.set("connector.b", doc(`${srv.url}/b`, "b/env/t"));
    config.entries.set("xmpp.jid", "not-a-connector@example.org");
    const gateway = await makeGateway();
    const logger = recordingLogger();
    const { manager } = await createConnectors({
      gateway,
      logger,
      clock: systemClock,
      source: configStoreSource(config),
    });
    cleanups.push(async () => {
      await manager.stop();
      await gateway.stop();
    });
    await manager.start();
    await waitFor(() => srv.requests.length === 2, 5_000, "both first polls");
    expect(manager.status().map((s) => s.name)).toEqual(["a", "b"]);
    await waitFor(() => valueOf(gateway, "/b/env/t") === 1);

    // Change a, remove b, add c (invalid), reorder keys of nothing else.
    temp = 2;
    config.entries.set("connector.a", doc(`${srv.url}/a2`, "a/env/t"));
    config.entries.delete("connector.b");
    config.entries.set("connector.c", { kind: "http", options: { url: "nope" }, mapping: [] });
    const report = await manager.reload();
    expect(report).toMatchObject({ started: ["c"], stopped: ["b"], restarted: ["a"], unchanged: [] });
    expect(report.invalid).toHaveLength(1);
    await waitFor(() => srv.requests.some((r) => r.url === "/a2"), 5_000, "a restarted on its new URL");
    await waitFor(() => valueOf(gateway, "/a/env/t") === 2);
    const status = Object.fromEntries(manager.status().map((s) => [s.name, s]));
    expect(Object.keys(status)).toEqual(["a", "c"]);
    expect(status.c).toMatchObject({
      state: "down",
      lastError: { code: "RELAIS_ERR_CONNECTOR_CONFIG_INVALID" },
    });
    expect(status.c!.lastError!.message).toContain("/options/url");
    expect(status.c!.lastError!.message).toContain("/options/allowHosts");
    expect(logger.codes()).toContain("RELAIS_ERR_CONNECTOR_CONFIG_INVALID");

    // Same documents again: nothing moves (key order does not count as a change).
    const same = { ...(config.entries.get("connector.a") as Record<string, unknown>) };
    config.entries.set("connector.a", Object.fromEntries(Object.entries(same).reverse()));
    const again = await manager.reload();
    expect(again).toMatchObject({ started: [], stopped: [], restarted: [], unchanged: ["a", "c"] });

    // Health and metrics views.
    expect(manager.health()).toMatchObject({
      ready: false,
      connectors: [
        { name: "a", state: "up" },
        { name: "c", state: "down" },
      ],
    });
    expect(manager.counters()).toContainEqual({ connector: "a", kind: "http", counter: "polls", value: 1 });

    // Disabled → stopped, and health no longer counts it.
    config.entries.set("connector.c", { ...doc(`${srv.url}/c`, "c/env/t"), enabled: false });
    await manager.reload();
    expect(manager.status().find((s) => s.name === "c")?.state).toBe("stopped");
    expect(manager.health().ready).toBe(true);
  });

  it("starts even when the config table is unreachable, and loads it once it is back (R6)", async () => {
    const srv = await startHttpServer((_req, _body, res) => {
      json(res, { temp: 9 });
    });
    cleanups.push(() => srv.close());
    let down = true;
    const source = {
      list: async () => {
        if (down) throw new RelaisError("RELAIS_ERR_DB_UNAVAILABLE");
        return [
          {
            kind: "http",
            name: "late",
            options: { url: `${srv.url}/x`, allowHosts: ["127.0.0.1"] },
            schedule: { everyMs: 3_600_000 },
            mapping: [{ target: "late/env/t", pointer: "/temp" }],
          },
        ];
      },
    };
    const gateway = await makeGateway();
    const logger = recordingLogger();
    const { manager } = await createConnectors({ gateway, logger, clock: systemClock, source });
    cleanups.push(async () => {
      await manager.stop();
      await gateway.stop();
    });
    await manager.start(); // does not throw
    expect(manager.health().ready).toBe(false);
    expect(logger.codes()).toContain("RELAIS_ERR_DB_UNAVAILABLE");
    down = false;
    await waitFor(() => valueOf(gateway, "/late/env/t") === 9, 5_000, "the retried load");
    expect(manager.health().ready).toBe(true);
  });

  it("watch() picks up configuration changes on its own", async () => {
    const srv = await startHttpServer((req, _body, res) => {
      json(res, { temp: req.url === "/v2" ? 2 : 1 });
    });
    cleanups.push(() => srv.close());
    const config = new MemoryConfig();
    const doc = (path: string) => ({
      kind: "http",
      options: { url: `${srv.url}${path}`, allowHosts: ["127.0.0.1"] },
      schedule: { everyMs: 3_600_000 },
      mapping: [{ target: "w/env/t", pointer: "/temp" }],
    });
    config.entries.set("connector.w", doc("/v1"));
    const gateway = await makeGateway();
    const { manager } = await createConnectors({
      gateway,
      logger: recordingLogger(),
      clock: systemClock,
      source: configStoreSource(config),
    });
    await manager.start();
    const cancel = manager.watch(20);
    cleanups.push(async () => {
      cancel();
      await manager.stop();
      await gateway.stop();
    });
    await waitFor(() => valueOf(gateway, "/w/env/t") === 1, 5_000, "first value");
    config.entries.set("connector.w", doc("/v2"));
    await waitFor(() => valueOf(gateway, "/w/env/t") === 2, 5_000, "value after the change");
    config.entries.delete("connector.w");
    await waitFor(() => manager.status().length === 0, 5_000, "connector removed");
  });

  it("refuses a second connector claiming the same SET/ACT target", async () => {
    const gateway = await makeGateway();
    const { manager } = await createConnectors({ gateway, logger: recordingLogger(), clock: systemClock });
    cleanups.push(async () => {
      await manager.stop();
      await gateway.stop();
    });
    const doc = (name: string) => ({
      kind: "mqtt",
      name,
      enabled: false,
      options: { url: "mqtt://127.0.0.1:1883", allowHosts: ["127.0.0.1"] },
      mapping: [{ topic: `x/${name}`, target: "lamp/l/level" }],
      commands: [{ target: "lamp/l/level", on: "SET", type: "integer", topic: `cmd/${name}` }],
    });
    const report = await manager.apply([doc("first"), doc("second")]);
    expect(report.invalid).toEqual([
      {
        name: "second",
        index: 1,
        problems: [
          {
            path: "/commands/0/target",
            message: 'SET lamp/l/level is already a command of connector "first"',
          },
        ],
      },
    ]);
    expect(manager.status().map((s) => [s.name, s.state, s.lastError?.code ?? null])).toEqual([
      ["first", "stopped", null],
      ["second", "down", "RELAIS_ERR_CONNECTOR_CONFIG_INVALID"],
    ]);
  });

  it("resolves credentials references through the UserApp store", async () => {
    const srv = await startHttpServer((_req, _body, res) => {
      json(res, { temp: 3 });
    });
    cleanups.push(() => srv.close());
    const userApps = {
      credentials: async (id: number) => (id === 7 ? { user: "bob", password: "pw" } : null),
    };
    const gateway = await makeGateway();
    const { manager } = await createConnectors({
      gateway,
      logger: recordingLogger(),
      clock: systemClock,
      credentials: userAppCredentials(userApps),
    });
    cleanups.push(async () => {
      await manager.stop();
      await gateway.stop();
    });
    await manager.apply([
      {
        kind: "http",
        name: "cred",
        options: {
          url: `${srv.url}/x`,
          allowHosts: ["127.0.0.1"],
          auth: { scheme: "basic", credentials: "userapp:7" },
        },
        schedule: { everyMs: 3_600_000 },
        mapping: [{ target: "cred/env/t", pointer: "/temp" }],
      },
    ]);
    await manager.start();
    await waitFor(() => srv.requests.length === 1);
    expect(srv.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from("bob:pw").toString("base64")}`);
    await (manager.get("cred") as HttpConnector).settled();
    expect(valueOf(gateway, "/cred/env/t")).toBe(3);
  });

  it("writes as an account through the data-first use case when runAs is set (policy applies)", async () => {
    const srv = await startHttpServer((_req, _body, res) => {
      json(res, { temp: 4 });
    });
    cleanups.push(() => srv.close());
    const gateway = await makeGateway();
    const { manager } = await createConnectors({ gateway, logger: recordingLogger(), clock: systemClock });
    cleanups.push(async () => {
      await manager.stop();
      await gateway.stop();
    });
    const doc = (name: string, runAs: string) => ({
      kind: "http",
      name,
      runAs,
      options: { url: `${srv.url}/${name}`, allowHosts: ["127.0.0.1"] },
      schedule: { everyMs: 3_600_000 },
      mapping: [{ target: `${name}/env/t`, pointer: "/temp" }],
    });
    await manager.apply([doc("asadmin", "admin"), doc("asalice", "alice")]);
    await manager.start();
    const admin = manager.get("asadmin") as HttpConnector;
    const alice = manager.get("asalice") as HttpConnector;
    await waitFor(() => admin.status().counters.polls === 1 && alice.status().counters.polls === 1);
    await admin.settled();
    await alice.settled();
    expect(valueOf(gateway, "/asadmin/env/t")).toBe(4);
    // alice is AUTHENTICATED without a CREATE grant: the update is refused by the policy, counted.
    expect(valueOf(gateway, "/asalice/env/t")).toBeUndefined();
    expect(alice.status().counters).toMatchObject({ rejectedUpdates: 1, updates: 0 });
    expect(alice.status().state).toBe("degraded");
  });
});
