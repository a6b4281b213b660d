/** The sensiNact REST routes over the real core, through inject() (CONTRACTS.md §3). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "./http-support.js";

let t: TestGateway;
const T = "/sensinact/providers/thermostat-1/services/climate/resources";
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  t = await startTestGateway({ loginLimit: { maxFailures: 5, windowMs: 60_000 } });
});
afterAll(async () => {
  await t.http.stop();
  await t.gateway.stop();
});

const get = (url: string, headers: Record<string, string> = {}) =>
  t.http.app.inject({ method: "GET", url, headers });
const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
  t.http.app.inject({ method: "POST", url, headers, payload: payload as object });

describe("describe routes", () => {
  it("lists the providers the caller may see", async () => {
    const r = await get("/sensinact/providers");
    expect(r.statusCode).toBe(200);
    const env = r.json();
    expect(env).toMatchObject({ statusCode: 200, type: "PROVIDERS_LIST", uri: "/" });
    const names = env.response.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(["thermostat-1", "meter-1"]));
    expect(names).not.toContain("vault-1");
    const admin = (await get("/sensinact/providers", auth(ADMIN_TOKEN))).json();
    expect(admin.response.map((p: { name: string }) => p.name)).toContain("vault-1");
  });
  it("describes provider, services, service, resources and resource", async () => {
    const p = await get("/sensinact/providers/thermostat-1");
    expect(p.json()).toMatchObject({ type: "DESCRIBE_PROVIDER", uri: "/thermostat-1", statusCode: 200 });
    expect(p.json().response.services).toContain("climate");
    const ss = await get("/sensinact/providers/thermostat-1/services");
    expect(ss.json()).toMatchObject({ type: "SERVICES_LIST", statusCode: 200 });
    const s = await get("/sensinact/providers/thermostat-1/services/climate");
    expect(s.json()).toMatchObject({ type: "DESCRIBE_SERVICE", uri: "/thermostat-1/climate" });
    expect(s.json().response.resources).toContain("setpoint");
    const rs = await get(T);
    expect(rs.json()).toMatchObject({ type: "RESOURCES_LIST", statusCode: 200 });
    const r = await get(`${T}/setpoint`);
    expect(r.json()).toMatchObject({
      type: "DESCRIBE_RESOURCE",
      uri: "/thermostat-1/climate/setpoint",
      response: { type: "PROPERTY", valueType: "float" },
    });
    expect(r.json().response.accessMethods).not.toContain("SET");
    const alice = await get(`${T}/setpoint`, auth(t.tokens.alice));
    expect(alice.json().response.accessMethods).toContain("SET");
  });
  it("what the caller may not DESCRIBE is 404, never 403", async () => {
    for (const headers of [{}, auth(t.tokens.bob), auth(t.tokens.alice)]) {
      for (const url of [
        "/sensinact/providers/vault-1",
        "/sensinact/providers/vault-1/services",
        "/sensinact/providers/vault-1/services/contact/resources/open",
        "/sensinact/providers/vault-1/services/contact/resources/open/GET",
      ]) {
        const r = await get(url, headers);
        expect(r.statusCode, url).toBe(404);
        expect(r.json().response).toBeUndefined();
        expect(r.json().error.code).toBe("RELAIS_ERR_MODEL_NOT_FOUND");
      }
      const sub = await post(
        "/sensinact/providers/vault-1/services/contact/resources/open/SUBSCRIBE",
        {
          parameters: [{ name: "callback", value: "http://93.184.216.34/" }],
        },
        headers,
      );
      expect(sub.statusCode).toBe(404);
    }
    expect(
      (await get("/sensinact/providers/vault-1/services/contact/resources/open/GET", auth(t.tokens.admin)))
        .statusCode,
    ).toBe(200);
  });
});

describe("access methods", () => {
  it("GET answers GET_RESPONSE {timestamp, name, type, value, …metadata}", async () => {
    const r = await get(`${T}/temperature/GET`);
    expect(r.statusCode).toBe(200);
    const env = r.json();
    expect(Object.keys(env).sort()).toEqual(["response", "statusCode", "type", "uri"]);
    expect(env).toMatchObject({
      statusCode: 200,
      type: "GET_RESPONSE",
      uri: "/thermostat-1/climate/temperature",
    });
    expect(env.response).toMatchObject({ name: "temperature", type: "float" });
    expect(typeof env.response.value).toBe("number");
    expect(typeof env.response.timestamp).toBe("number");
  });
  it("SET: 401 anonymous, 403 without the right, 200 with it; Basic works too", async () => {
    const body = { parameters: [{ name: "value", type: "float", value: 21.5 }] };
    const anon = await post(`${T}/setpoint/SET`, body);
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toMatchObject({
      type: "SET_RESPONSE",
      statusCode: 401,
      error: { code: "RELAIS_ERR_SECURITY_UNAUTHENTICATED" },
    });
    const bob = await post(`${T}/setpoint/SET`, body, auth(t.tokens.bob));
    expect(bob.statusCode).toBe(403);
    const alice = await post(`${T}/setpoint/SET`, body, auth(t.tokens.alice));
    expect(alice.statusCode).toBe(200);
    expect(alice.json()).toMatchObject({
      type: "SET_RESPONSE",
      uri: "/thermostat-1/climate/setpoint",
      response: { value: 21.5 },
    });
    const basic = await post(
      `${T}/setpoint/SET`,
      { parameters: [{ name: "value", value: 22 }] },
      { authorization: t.basic("alice", "alice-password") },
    );
    expect(basic.statusCode).toBe(200);
    expect((await get(`${T}/setpoint/GET`)).json().response.value).toBe(22);
  });
  it("SET on a sensor is refused with the envelope's status", async () => {
    const r = await post(
      `${T}/temperature/SET`,
      { parameters: [{ name: "value", value: 3 }] },
      auth(ADMIN_TOKEN),
    );
    expect(r.statusCode).toBeGreaterThanOrEqual(400);
    expect(r.statusCode).toBeLessThan(500);
    expect(r.json().statusCode).toBe(r.statusCode);
    expect(r.json().error.code).toBe("RELAIS_ERR_ACCESS_NOT_ALLOWED");
  });
  it("ACT answers {taskId, result, status, start, end} plus triggered", async () => {
    const r = await post(
      `${T}/setTemperature/ACT`,
      { parameters: [{ name: "target", type: "float", value: 23 }] },
      auth(t.tokens.alice),
    );
    expect(r.statusCode).toBe(200);
    const env = r.json();
    expect(env).toMatchObject({ type: "ACT_RESPONSE", statusCode: 200, response: { status: "EXECUTED" } });
    expect(Object.keys(env.response).sort()).toEqual(["end", "result", "start", "status", "taskId"]);
    expect(Array.isArray(env.triggered)).toBe(true);
    expect(env.triggered.length).toBeGreaterThan(0);
    expect(env.triggered[0].type).toBe("SET_RESPONSE");
  });
  it("SUBSCRIBE over REST needs an allowed callback; UNSUBSCRIBE of an unknown id is 404", async () => {
    const none = await post(`${T}/temperature/SUBSCRIBE`, { parameters: [] });
    expect(none.statusCode).toBe(400);
    expect(none.json()).toMatchObject({
      type: "SUBSCRIBE_RESPONSE",
      error: { code: "RELAIS_ERR_HTTP_BAD_REQUEST" },
    });
    for (const cb of [
      "http://169.254.169.254/latest/meta-data",
      "http://127.0.0.1:9/",
      "http://10.0.0.1/",
      "file:///etc/passwd",
    ]) {
      const r = await post(`${T}/temperature/SUBSCRIBE`, { parameters: [{ name: "callback", value: cb }] });
      expect(r.statusCode, cb).toBe(400);
      expect(r.json().error.code).toBe("RELAIS_ERR_HTTP_CALLBACK_REFUSED");
    }
    const un = await post(`${T}/temperature/UNSUBSCRIBE`, {
      parameters: [{ name: "subscriptionId", value: "nope" }],
    });
    expect(un.statusCode).toBe(404);
    expect(un.json()).toMatchObject({
      type: "UNSUBSCRIBE_RESPONSE",
      error: { code: "RELAIS_ERR_ACCESS_SUBSCRIPTION_NOT_FOUND" },
    });
  });
  it("GET …/SUBSCRIBE without Accept: text/event-stream is a 400 envelope", async () => {
    const r = await get(`${T}/temperature/SUBSCRIBE`);
    expect(r.statusCode).toBe(400);
    expect(r.json().type).toBe("SUBSCRIBE_RESPONSE");
  });
  it("bad conditions are a 4xx envelope", async () => {
    const r = await get(
      `${T}/temperature/SUBSCRIBE?conditions=${encodeURIComponent('[{"operator":"~","operand":1}]')}`,
      {
        accept: "text/event-stream",
      },
    );
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe("RELAIS_ERR_ACCESS_BAD_CONDITION");
  });
});

describe("hostile input", () => {
  it("SQL-injection-looking and odd paths never answer 5xx", async () => {
    const evil = [
      "' OR 1=1 --",
      "'; DROP TABLE users; --",
      "../../etc/passwd",
      "%00",
      "a".repeat(300),
      "\u202e",
      "${jndi:ldap://x}",
      "<script>",
    ];
    for (const e of evil) {
      const seg = encodeURIComponent(e);
      for (const url of [
        `/sensinact/providers/${seg}`,
        `/sensinact/providers/${seg}/services/${seg}/resources/${seg}/GET`,
        `/api/v1/outbox?status=${seg}`,
        `/api/v1/users/${seg}`,
      ]) {
        const r = await get(url, auth(ADMIN_TOKEN));
        expect(r.statusCode, url).toBeLessThan(500);
        expect(r.json().error?.code ?? "none").toMatch(/^RELAIS_ERR_|none/);
      }
      const set = await post(
        `/sensinact/providers/${seg}/services/x/resources/y/SET`,
        { parameters: [{ name: "value", value: e }] },
        auth(ADMIN_TOKEN),
      );
      expect(set.statusCode).toBeLessThan(500);
    }
  });
  it("a login flood from one address is answered 429 with Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await t.http.app.inject({
        method: "GET",
        url: "/sensinact/providers",
        headers: { authorization: t.basic("alice", `wrong-${i}`) },
        remoteAddress: "203.0.113.7",
      });
      statuses.push(r.statusCode);
      if (r.statusCode === 429) {
        retryAfter = r.headers["retry-after"];
        expect(r.json().error.code).toBe("RELAIS_ERR_HTTP_RATE_LIMITED");
      }
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Even the right password waits; other clients are not affected.
    const right = await t.http.app.inject({
      method: "GET",
      url: "/sensinact/providers",
      headers: { authorization: t.basic("alice", "alice-password") },
      remoteAddress: "203.0.113.7",
    });
    expect(right.statusCode).toBe(429);
    const other = await t.http.app.inject({
      method: "GET",
      url: "/sensinact/providers",
      headers: { authorization: t.basic("alice", "alice-password") },
      remoteAddress: "203.0.113.8",
    });
    expect(other.statusCode).toBe(200);
  });
});
