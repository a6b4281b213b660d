/** The HTTP edge on its own (fake core): envelopes, framework errors, auth plumbing, docs, health. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp, type HttpApp } from "../../src/adapters/http/app.js";
import { FakeGateway } from "./http-fake-gateway.js";

let http: HttpApp;
const gw = new FakeGateway();
const R = "/sensinact/providers/room/services/climate/resources";
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

beforeAll(async () => {
  http = await buildHttpApp({
    gateway: gw,
    logLevel: "silent",
    adminToken: "boot-admin",
    loginLimit: { maxFailures: 5, windowMs: 60_000 },
    probes: [{ name: "database", check: () => ({ up: true }) }],
  });
});
afterAll(async () => {
  await http.stop();
});

describe("sensinact envelopes", () => {
  it("GET answers the seed's envelope with HTTP status = statusCode", async () => {
    const r = await http.app.inject({ method: "GET", url: `${R}/temperature/GET` });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({
      response: { name: "temperature", value: 21, timestamp: 1, type: "float" },
      statusCode: 200,
      type: "GET_RESPONSE",
      uri: "/room/climate/temperature",
    });
  });
  it("an unknown or hidden resource is a 404 error envelope without response", async () => {
    for (const url of [`${R}/nope/GET`, "/sensinact/providers/vault/services/secret/resources/code/GET"]) {
      const r = await http.app.inject({ method: "GET", url, headers: bearer("user-token") });
      expect(r.statusCode).toBe(404);
      const body = r.json();
      expect(body.response).toBeUndefined();
      expect(body).toMatchObject({
        statusCode: 404,
        type: "GET_RESPONSE",
        error: { code: "RELAIS_ERR_DB_NOT_FOUND" },
      });
    }
  });
  it("SET by an authenticated caller", async () => {
    const r = await http.app.inject({
      method: "POST",
      url: `${R}/setpoint/SET`,
      headers: bearer("user-token"),
      payload: { parameters: [{ name: "value", type: "float", value: 21.5 }] },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({
      type: "SET_RESPONSE",
      uri: "/room/climate/setpoint",
      response: { value: 21.5 },
    });
  });
  it("malformed JSON is a 400 envelope, never a 500", async () => {
    const r = await http.app.inject({
      method: "POST",
      url: `${R}/setpoint/SET`,
      headers: { ...bearer("user-token"), "content-type": "application/json" },
      payload: '{"parameters": [',
    });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({
      type: "SET_RESPONSE",
      uri: "/room/climate/setpoint",
      error: { code: "RELAIS_ERR_HTTP_BAD_REQUEST" },
    });
  });
  it("wrong parameter types are 400", async () => {
    for (const payload of [{ parameters: [{ name: { x: 1 } }] }, { parameters: 7 }, { parameters: [3] }]) {
      const r = await http.app.inject({
        method: "POST",
        url: `${R}/setpoint/SET`,
        headers: bearer("user-token"),
        payload,
      });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({
        type: "SET_RESPONSE",
        error: { code: "RELAIS_ERR_HTTP_BAD_REQUEST" },
      });
    }
    const id = await http.app.inject({
      method: "GET",
      url: "/api/v1/apps/abc",
      headers: bearer("boot-admin"),
    });
    expect(id.statusCode).toBe(400);
    expect(id.json().error.code).toBe("RELAIS_ERR_HTTP_BAD_REQUEST");
  });
  it("a body over 1 MiB is 413 in the envelope", async () => {
    const r = await http.app.inject({
      method: "POST",
      url: `${R}/setpoint/SET`,
      headers: { ...bearer("user-token"), "content-type": "application/json" },
      payload: JSON.stringify({ parameters: [{ name: "value", value: "x".repeat(1024 * 1024) }] }),
    });
    expect(r.statusCode).toBe(413);
    expect(r.json()).toMatchObject({
      statusCode: 413,
      type: "SET_RESPONSE",
      error: { code: "RELAIS_ERR_HTTP_BODY_TOO_LARGE" },
    });
  });
  it("unknown routes are 404 JSON with a code", async () => {
    const r = await http.app.inject({ method: "GET", url: "/sensinact/nothing/here" });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe("RELAIS_ERR_HTTP_NOT_FOUND");
  });
});

describe("auth", () => {
  it("bad credentials are 401; the admin token is ADMIN", async () => {
    const bad = await http.app.inject({ method: "GET", url: "/api/v1/apps", headers: bearer("wrong") });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers["www-authenticate"]).toContain("Bearer");
    const none = await http.app.inject({ method: "GET", url: "/api/v1/apps" });
    expect(none.statusCode).toBe(401);
    const user = await http.app.inject({ method: "GET", url: "/api/v1/apps", headers: bearer("user-token") });
    expect(user.statusCode).toBe(403);
    const admin = await http.app.inject({
      method: "GET",
      url: "/api/v1/apps",
      headers: bearer("boot-admin"),
    });
    // No app store was passed: the route exists and says the store is unavailable.
    expect(admin.statusCode).toBe(503);
    expect(admin.json().error.code).toBe("RELAIS_ERR_HTTP_UNAVAILABLE");
  });
});

describe("health and docs", () => {
  it("health is public", async () => {
    expect((await http.app.inject({ method: "GET", url: "/health/live" })).statusCode).toBe(200);
    const r = await http.app.inject({ method: "GET", url: "/health/ready" });
    expect(r.json()).toEqual({ status: "up", components: { database: { up: true } } });
  });
  it("ready is 503 with per-component JSON until every probe is up", async () => {
    let dbUp = false;
    const h = await buildHttpApp({
      gateway: gw,
      logLevel: "silent",
      probeTimeoutMs: 100,
      probes: [
        { name: "database", check: () => ({ up: dbUp, ...(dbUp ? {} : { detail: "connection refused" }) }) },
        { name: "xmpp", check: async () => ({ up: true }) },
      ],
    });
    const down = await h.app.inject({ method: "GET", url: "/health/ready" });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({
      status: "down",
      components: { database: { up: false, detail: "connection refused" }, xmpp: { up: true } },
    });
    dbUp = true;
    const up = await h.app.inject({ method: "GET", url: "/health/ready" });
    expect(up.statusCode).toBe(200);
    expect(up.json().status).toBe("up");
    await h.stop();
  });
  it("a probe that throws or hangs counts as down", async () => {
    const h = await buildHttpApp({
      gateway: gw,
      logLevel: "silent",
      probeTimeoutMs: 50,
      probes: [
        {
          name: "boom",
          check: () => Promise.reject(Object.assign(new Error("x"), { code: "RELAIS_ERR_DB_UNAVAILABLE" })),
        },
        { name: "hang", check: () => new Promise(() => undefined) },
      ],
    });
    const r = await h.app.inject({ method: "GET", url: "/health/ready" });
    expect(r.statusCode).toBe(503);
    expect(r.json().components.boom).toEqual({ up: false, detail: "RELAIS_ERR_DB_UNAVAILABLE" });
    expect(r.json().components.hang.up).toBe(false);
    await h.stop();
  });
  it("the OpenAPI document lists the routes", async () => {
    const r = await http.app.inject({ method: "GET", url: "/docs/json" });
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toContain(
      "/sensinact/providers/{provider}/services/{service}/resources/{resource}/GET",
    );
    expect(Object.keys(doc.paths)).toContain("/api/v1/apps");
  });
});

describe("logs", () => {
  it("never contain credentials, even at trace level", async () => {
    const lines: string[] = [];
    const h = await buildHttpApp({
      gateway: gw,
      logLevel: "trace",
      logDestination: { write: (l) => lines.push(l) },
      adminToken: "boot-admin-CANARY1",
    });
    await h.app.inject({ method: "GET", url: "/sensinact/providers", headers: bearer("user-token-CANARY2") });
    await h.app.inject({
      method: "GET",
      url: "/sensinact/providers",
      headers: { authorization: `Basic ${Buffer.from("alice:pw-CANARY3").toString("base64")}` },
    });
    await h.app.inject({
      method: "PUT",
      url: "/api/v1/users/1/apps/1",
      headers: bearer("boot-admin-CANARY1"),
      payload: { credentials: { password: "CANARY4" } },
    });
    await h.stop();
    const log = lines.join("");
    expect(log.length).toBeGreaterThan(100); // the requests were logged
    expect(log).toContain("request completed");
    expect(log).toMatch(/"reqId":"req-/); // request lines carry their id (child logger made on first use)
    expect(log).not.toMatch(/CANARY/);
    expect(log).not.toContain(Buffer.from("alice:pw-CANARY3").toString("base64"));
  });
});

describe("access log", () => {
  it("writes one line per request at info, with status and time; health and metrics probes only at debug", async () => {
    const lines: string[] = [];
    const h = await buildHttpApp({
      gateway: gw,
      logLevel: "info",
      logDestination: { write: (l) => lines.push(l) },
    });
    await h.app.inject({ method: "GET", url: "/sensinact/providers" });
    await h.app.inject({ method: "GET", url: "/health/live" });
    await h.app.inject({ method: "GET", url: "/metrics" });
    await h.stop();
    const entries = lines.map(
      (l) =>
        JSON.parse(l) as {
          msg: string;
          req?: { url: string };
          res?: { statusCode: number };
          responseTime?: number;
        },
    );
    const access = entries.filter((e) => e.msg === "request completed");
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({
      req: { url: "/sensinact/providers" },
      res: { statusCode: expect.any(Number) as number },
    });
    expect(typeof access[0]?.responseTime).toBe("number");
    expect(entries.some((e) => e.msg === "incoming request")).toBe(false);
  });
});

describe("console", () => {
  it("serves web/ at / without escaping the directory", async () => {
    const h = await buildHttpApp({
      gateway: gw,
      logLevel: "silent",
      webRoot: new URL("../../web", import.meta.url).pathname,
    });
    const home = await h.app.inject({ method: "GET", url: "/" });
    expect(home.statusCode).toBe(200);
    expect(home.headers["content-type"]).toContain("text/html");
    const js = await h.app.inject({ method: "GET", url: "/console.js" });
    expect(js.statusCode).toBe(200);
    expect(js.headers["content-type"]).toContain("javascript");
    for (const url of [
      "/../package.json",
      "/%2e%2e/package.json",
      "/..%2fpackage.json",
      "/.hidden",
      "/nope.js",
    ]) {
      const r = await h.app.inject({ method: "GET", url });
      expect(r.statusCode, url).toBe(404);
      expect(r.body).not.toContain('"name": "relais"');
    }
    // The API keeps its own routes next to the wildcard.
    expect((await h.app.inject({ method: "GET", url: "/health/live" })).statusCode).toBe(200);
    await h.stop();
  });
});
