/**
 * HTTP polling connector against a real HTTP server (node:http on 127.0.0.1:0) and the core
 * Gateway with in-memory stores: mapping, credentials, conditional requests, write-back, and the
 * bad-input cases (slow, down, non-JSON, wrong shape, outside the allow-list) — each logged with
 * its code and counted while the connector and the rest of the gateway keep running.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Gateway } from "../../src/core/gateway.js";
import { systemClock } from "../../src/core/ports.js";
import { createConnectors, type ConnectorManager, type HttpConnector } from "../../src/connectors/index.js";
import {
  ADMIN,
  json,
  makeGateway,
  recordingLogger,
  startHttpServer,
  valueOf,
  waitFor,
  type TestServer,
} from "./connector-support.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  gateway: Gateway;
  manager: ConnectorManager;
  logger: ReturnType<typeof recordingLogger>;
}

async function setup(docs: unknown[], credentials?: Record<string, Record<string, string>>): Promise<Setup> {
  const logger = recordingLogger();
  const gateway = await makeGateway();
  const { manager } = await createConnectors({
    gateway,
    logger,
    clock: systemClock,
    credentials: { resolve: async (ref) => credentials?.[ref] ?? null },
  });
  await manager.apply(docs);
  await manager.start();
  cleanups.push(async () => {
    await manager.stop();
    await gateway.stop();
  });
  return { gateway, manager, logger };
}

async function server(handler: TestServer["handler"]): Promise<TestServer> {
  const s = await startHttpServer(handler);
  cleanups.push(() => s.close());
  return s;
}

function httpDoc(
  name: string,
  url: string,
  extra: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
) {
  return {
    kind: "http",
    name,
    options: { url, allowHosts: ["127.0.0.1"], timeoutMs: 1_000, retries: 0, backoffMs: 20, ...options },
    schedule: { everyMs: 3_600_000 },
    mapping: [{ target: `${name}/env/temperature`, pointer: "/temp", unit: "Cel" }],
    ...extra,
  };
}

async function firstPoll(manager: ConnectorManager, name: string): Promise<HttpConnector> {
  const c = manager.get(name) as HttpConnector;
  await waitFor(() => c.status().counters.polls! >= 1, 5_000, "first poll");
  await c.settled();
  return c;
}

describe("HTTP connector: polling and mapping", () => {
  it("maps JSON pointers and a JSONata records list into the model, with units and timestamps", async () => {
    const srv = await server((_req, _body, res) => {
      json(res, {
        temp: 21.5,
        updated: "2024-05-01T12:00:00Z",
        devices: [
          { id: "dev-a", power: 12 },
          { id: "dev-b", power: 30.5 },
        ],
      });
    });
    const { gateway, manager } = await setup([
      httpDoc("weather", `${srv.url}/api`, {
        mapping: [
          {
            target: "weather/env/temperature",
            pointer: "/temp",
            unit: "Cel",
            timestamp: { pointer: "/updated" },
          },
          { records: 'devices.{"target": id & "/meter/power", "value": power, "unit": "W"}' },
        ],
      }),
    ]);
    const c = await firstPoll(manager, "weather");
    expect(c.status()).toMatchObject({ state: "up", counters: { polls: 1, updates: 3, mappingErrors: 0 } });
    expect(valueOf(gateway, "/weather/env/temperature")).toBe(21.5);
    expect(valueOf(gateway, "/dev-b/meter/power")).toBe(30.5);
    const env = gateway.get(ADMIN, "/weather/env/temperature") as { response: Record<string, unknown> };
    expect(env.response.timestamp).toBe(Date.parse("2024-05-01T12:00:00Z"));
    expect(env.response.unit).toBe("Cel");
  });

  it("sends per-user credentials: Bearer, Basic and an API-key header", async () => {
    const srv = await server((_req, _body, res) => {
      json(res, { temp: 1 });
    });
    await setup(
      [
        httpDoc("bearer", `${srv.url}/b`, {}, { auth: { scheme: "bearer", credentials: "userapp:1" } }),
        httpDoc("basic", `${srv.url}/u`, {}, { auth: { scheme: "basic", credentials: "userapp:2" } }),
        httpDoc(
          "apikey",
          `${srv.url}/k`,
          {},
          { auth: { scheme: "apiKey", header: "X-Token", credentials: "userapp:3" } },
        ),
      ],
      {
        "userapp:1": { token: "t0k" },
        "userapp:2": { username: "ann", password: "s3cret" },
        "userapp:3": { apiKey: "k3y" },
      },
    );
    await waitFor(() => srv.requests.length >= 3);
    const byPath = Object.fromEntries(srv.requests.map((r) => [r.url, r.headers]));
    expect(byPath["/b"]?.authorization).toBe("Bearer t0k");
    expect(byPath["/u"]?.authorization).toBe(`Basic ${Buffer.from("ann:s3cret").toString("base64")}`);
    expect(byPath["/k"]?.["x-token"]).toBe("k3y");
  });

  it("refuses to poll when the referenced credentials are missing (down, coded, no request sent)", async () => {
    const srv = await server((_req, _body, res) => {
      json(res, { temp: 1 });
    });
    const { manager, logger } = await setup([
      httpDoc("nocred", `${srv.url}/x`, {}, { auth: { scheme: "bearer", credentials: "userapp:404" } }),
    ]);
    const c = await firstPoll(manager, "nocred");
    expect(c.status().state).toBe("down");
    expect(c.status().lastError?.code).toBe("RELAIS_ERR_CONNECTOR_CREDENTIALS_MISSING");
    expect(logger.codes()).toContain("RELAIS_ERR_CONNECTOR_CREDENTIALS_MISSING");
    expect(srv.requests).toHaveLength(0);
  });

  it("uses ETag / If-None-Match: a 304 is no update and is counted", async () => {
    let temp = 10;
    const srv = await server((req, _body, res) => {
      const etag = `"v${temp}"`;
      if (req.headers["if-none-match"] === etag) {
        res.writeHead(304, { etag });
        res.end();
        return;
      }
      json(res, { temp }, { etag });
    });
    const { gateway, manager } = await setup([httpDoc("etag", `${srv.url}/t`)]);
    const c = await firstPoll(manager, "etag");
    const ts1 = (gateway.get(ADMIN, "/etag/env/temperature") as { response: { timestamp: number } }).response
      .timestamp;
    await new Promise((r) => setTimeout(r, 5));
    expect(await c.pollNow()).toEqual({ status: "not-modified" });
    expect(srv.requests[1]?.headers["if-none-match"]).toBe('"v10"');
    const ts2 = (gateway.get(ADMIN, "/etag/env/temperature") as { response: { timestamp: number } }).response
      .timestamp;
    expect(ts2).toBe(ts1);
    temp = 11;
    expect(await c.pollNow()).toMatchObject({ status: "updated", updates: 1 });
    expect(valueOf(gateway, "/etag/env/temperature")).toBe(11);
    expect(c.status().counters).toMatchObject({ polls: 3, notModified: 1, updates: 2 });
  });
});

describe("HTTP connector: write-back", () => {
  it("routes SET to a configured HTTP call (URL and body templates) and ACT with its result", async () => {
    const srv = await server((req, body, res) => {
      if (req.method === "GET") {
        json(res, { temp: 20, setpoint: 19 });
        return;
      }
      if (req.url?.startsWith("/act")) {
        json(res, { accepted: true, echo: JSON.parse(body) as unknown });
        return;
      }
      res.writeHead(204);
      res.end();
    });
    const { gateway, manager } = await setup(
      [
        httpDoc("thermo", `${srv.url}/state`, {
          mapping: [
            { target: "thermo/env/temperature", pointer: "/temp" },
            { target: "thermo/env/setpoint", pointer: "/setpoint" },
          ],
          commands: [
            {
              target: "thermo/env/setpoint",
              on: "SET",
              type: "float",
              method: "PUT",
              url: `${srv.url}/devices/{provider}/setpoint?v={value}`,
              body: { setpoint: "{value}", unit: "Cel" },
              headers: { "X-Resource": "{resource}" },
            },
            {
              target: "thermo/env/boost",
              on: "ACT",
              parameters: [{ name: "minutes", type: "integer" }],
              method: "POST",
              url: `${srv.url}/act/boost`,
              body: { duration: "{param.minutes}" },
            },
          ],
        }),
      ],
      { "userapp:9": { token: "w" } },
    );
    await firstPoll(manager, "thermo");
    expect(valueOf(gateway, "/thermo/env/setpoint")).toBe(19);
    const user = await gateway.principalOf("admin");
    const set = (await gateway.set(user, "/thermo/env/setpoint", 22.5)) as { statusCode: number };
    expect(set.statusCode).toBe(200);
    const put = srv.requests.find((r) => r.method === "PUT")!;
    expect(put.url).toBe("/devices/thermo/setpoint?v=22.5");
    expect(JSON.parse(put.body)).toEqual({ setpoint: 22.5, unit: "Cel" });
    expect(put.headers["x-resource"]).toBe("setpoint");
    expect(valueOf(gateway, "/thermo/env/setpoint")).toBe(22.5);

    const act = (await gateway.act(user, "/thermo/env/boost", [{ name: "minutes", value: 15 }])) as {
      statusCode: number;
      response: { result: unknown; status: string };
    };
    expect(act.statusCode).toBe(200);
    expect(act.response).toMatchObject({
      status: "EXECUTED",
      result: { accepted: true, echo: { duration: 15 } },
    });
  });

  it("a failing write-back is an error envelope with the connector's code; the value is not stored", async () => {
    const srv = await server((req, _body, res) => {
      if (req.method === "GET") {
        json(res, { temp: 20 });
        return;
      }
      res.writeHead(503);
      res.end();
    });
    const { gateway, manager } = await setup([
      httpDoc("wb", `${srv.url}/s`, {
        commands: [
          { target: "wb/env/mode", on: "SET", type: "string", method: "POST", url: `${srv.url}/mode` },
        ],
      }),
    ]);
    await firstPoll(manager, "wb");
    const env = (await gateway.set(ADMIN, "/wb/env/mode", "eco")) as {
      statusCode: number;
      error: { code: string };
    };
    expect(env.error.code).toBe("RELAIS_ERR_CONNECTOR_UPSTREAM_STATUS");
    expect(env.statusCode).toBe(502);
    expect(valueOf(gateway, "/wb/env/mode")).toBeNull();
    expect(manager.get("wb")!.status().counters.commandFailures).toBe(1);
  });
});

describe("HTTP connector: bad input never stops it", () => {
  it("times out a slow system, retries with backoff, and never piles up polls", async () => {
    const srv = await server(async (_req, _body, res) => {
      await new Promise((r) => setTimeout(r, 400));
      if (!res.destroyed) json(res, { temp: 1 });
    });
    const { manager, logger } = await setup([
      httpDoc(
        "slow",
        `${srv.url}/slow`,
        { schedule: { everyMs: 20 } },
        { timeoutMs: 100, retries: 1, backoffMs: 10 },
      ),
    ]);
    const c = manager.get("slow") as HttpConnector;
    await waitFor(() => c.status().counters.pollFailures! >= 2, 5_000, "two failed polls");
    const s = c.status();
    expect(s.lastError?.code).toBe("RELAIS_ERR_CONNECTOR_TIMEOUT");
    expect(s.counters.requestRetries).toBeGreaterThanOrEqual(2);
    expect(s.counters.skippedTicks! + s.counters.backoffSkips!).toBeGreaterThan(0);
    expect(srv.maxInFlight).toBe(1);
    expect(logger.codes()).toContain("RELAIS_ERR_CONNECTOR_TIMEOUT");
  });

  it("reports an unreachable system, backs off, goes down after repeated failures, and recovers", async () => {
    const srv = await server((_req, _body, res) => {
      json(res, { temp: 5 });
    });
    const port = srv.port;
    await srv.close();
    const { gateway, manager } = await setup([
      httpDoc(
        "gone",
        `http://127.0.0.1:${port}/x`,
        { schedule: { everyMs: 10 } },
        { backoffMs: 5, maxBackoffMs: 20 },
      ),
    ]);
    const c = manager.get("gone") as HttpConnector;
    await waitFor(() => c.status().counters.pollFailures! >= 3, 5_000, "three failures");
    expect(c.status()).toMatchObject({
      state: "down",
      lastError: { code: "RELAIS_ERR_CONNECTOR_UNREACHABLE" },
    });
    // The system comes back on the same port: the connector recovers on its own.
    const { createServer } = await import("node:http");
    const revived = createServer((_req, res) => {
      json(res, { temp: 6 });
    });
    await new Promise<void>((r) => revived.listen(port, "127.0.0.1", r));
    cleanups.push(
      () =>
        new Promise<void>((r) =>
          revived.close(() => {
            r();
          }),
        ),
    );
    await waitFor(() => c.status().state === "up", 5_000, "recovery");
    expect(valueOf(gateway, "/gone/env/temperature")).toBe(6);
  });

  it("counts non-JSON answers and wrong shapes; good entries still map; the connector keeps polling", async () => {
    let answer: string = "<html>oops</html>";
    const srv = await server((_req, _body, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(answer);
    });
    const { gateway, manager, logger } = await setup([
      httpDoc("shape", `${srv.url}/x`, {
        mapping: [
          { target: "shape/env/temperature", pointer: "/temp", type: "float" },
          { target: "shape/env/humidity", pointer: "/hum" },
        ],
      }),
    ]);
    const c = await firstPoll(manager, "shape");
    expect(c.status()).toMatchObject({
      lastError: { code: "RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID" },
      counters: { payloadErrors: 1 },
    });
    answer = JSON.stringify({ temp: "warm", hum: 40 });
    await new Promise((r) => setTimeout(r, 30)); // past the backoff
    expect(await c.pollNow()).toMatchObject({ status: "updated", updates: 1, mappingErrors: 1 });
    expect(valueOf(gateway, "/shape/env/humidity")).toBe(40);
    expect(c.status()).toMatchObject({
      state: "degraded",
      lastError: { code: "RELAIS_ERR_CONNECTOR_MAPPING_FAILED" },
    });
    answer = JSON.stringify({ temp: 19.5, hum: 41 });
    expect(await c.pollNow()).toMatchObject({ status: "updated", updates: 2, mappingErrors: 0 });
    expect(c.status().state).toBe("up");
    expect(logger.codes()).toEqual(
      expect.arrayContaining(["RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID", "RELAIS_ERR_CONNECTOR_MAPPING_FAILED"]),
    );
  });

  it("refuses URLs outside the allow-list and metadata addresses, even through DNS (S11)", async () => {
    const logger = recordingLogger();
    const gateway = await makeGateway();
    const { manager } = await createConnectors({
      gateway,
      logger,
      clock: systemClock,
      // A friendly name that resolves to the cloud metadata service.
      lookup: async (host) => [
        { address: host === "metadata.example" ? "169.254.169.254" : "127.0.0.1", family: 4 },
      ],
    });
    cleanups.push(async () => {
      await manager.stop();
      await gateway.stop();
    });
    await manager.apply([
      httpDoc("outside", "http://example.org/api", {}, { allowHosts: ["127.0.0.1"] }),
      httpDoc("meta", "http://169.254.169.254/latest/meta-data/", {}, { allowHosts: ["169.254.169.254"] }),
      httpDoc("rebind", "http://metadata.example/x", {}, { allowHosts: ["metadata.example"] }),
    ]);
    await manager.start();
    for (const name of ["outside", "meta", "rebind"]) {
      const c = await firstPoll(manager, name);
      expect(c.status(), name).toMatchObject({
        state: "down",
        lastError: { code: "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN" },
        counters: { forbiddenUrls: 1 },
      });
    }
    expect(logger.codes().filter((x) => x === "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN")).toHaveLength(3);
  });

  it("refuses an oversize answer and a resource that belongs to someone else", async () => {
    const srv = await server((req, _body, res) => {
      json(res, req.url === "/big" ? { temp: 1, pad: "x".repeat(200) } : { temp: 2 });
    });
    const { gateway, manager } = await setup([]);
    // A data-first resource (owner: none) the connector must not take over without runAs.
    expect(
      gateway.applyUpdates(ADMIN, [{ provider: "taken", service: "env", resource: "t", value: 1 }]).applied,
    ).toBe(1);
    await manager.apply([
      httpDoc("big", `${srv.url}/big`, {}, { maxBodyBytes: 100 }),
      httpDoc("clash", `${srv.url}/ok`, { mapping: [{ target: "taken/env/t", pointer: "/temp" }] }),
    ]);
    const big = await firstPoll(manager, "big");
    expect(big.status()).toMatchObject({
      lastError: { code: "RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID" },
      counters: { payloadErrors: 1 },
    });
    const clash = await firstPoll(manager, "clash");
    expect(clash.status()).toMatchObject({ state: "degraded", counters: { rejectedUpdates: 1, updates: 0 } });
    expect(valueOf(gateway, "/taken/env/t")).toBe(1);
  });

  it("polls on a cron schedule", async () => {
    const srv = await server((_req, _body, res) => {
      json(res, { temp: 3 });
    });
    const { manager } = await setup([httpDoc("cron", `${srv.url}/c`, { schedule: { cron: "* * * * * *" } })]);
    const c = manager.get("cron") as HttpConnector;
    // One poll at start, then one per second.
    await waitFor(() => c.status().counters.polls! >= 2, 4_000, "a cron-triggered poll");
    expect(c.status().counters.ticks).toBeGreaterThanOrEqual(2);
  });

  it("a failing connector leaves the others and the gateway working", async () => {
    const good = await server((_req, _body, res) => {
      json(res, { temp: 7 });
    });
    const bad = await server((_req, _body, res) => {
      res.writeHead(500);
      res.end();
    });
    const { gateway, manager } = await setup([
      httpDoc("good", `${good.url}/x`),
      httpDoc("bad", `${bad.url}/x`),
    ]);
    await firstPoll(manager, "good");
    await firstPoll(manager, "bad");
    expect(valueOf(gateway, "/good/env/temperature")).toBe(7);
    expect(manager.status().map((s) => [s.name, s.state])).toEqual([
      ["bad", "degraded"],
      ["good", "up"],
    ]);
    expect(manager.get("bad")!.status().lastError?.code).toBe("RELAIS_ERR_CONNECTOR_UPSTREAM_STATUS");
    expect((gateway.get(ADMIN, "/good/env/temperature") as { statusCode: number }).statusCode).toBe(200);
  });
});
