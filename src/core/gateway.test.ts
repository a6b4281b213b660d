import { describe, expect, it } from "vitest";
import { Gateway } from "./gateway.js";
import { MemoryValueStore } from "./model/memory-value-store.js";
import { MemorySecurityStore } from "./security/memory-security-store.js";
import { FakeClock, InsecureTestCrypto, ManualScheduler } from "./testing/fakes.js";
import type { Connector, ConnectorActRequest, ConnectorContext, ConnectorSetRequest } from "./ports.js";
import { ANONYMOUS, principal } from "./security/principal.js";
import { withGrant, withProfile, emptyPolicy } from "./security/policy.js";
import type { SubscriptionNotification } from "./access/envelopes.js";

const ADMIN = principal("admin", "ADMIN");
const OWNER = principal("root", "OWNER");
const ALICE = principal("alice", "AUTHENTICATED");

class TestConnector implements Connector {
  readonly id: string;
  ctx!: ConnectorContext;
  starts = 0;
  stops = 0;
  sets: ConnectorSetRequest[] = [];
  failAct = false;
  constructor(id = "test") {
    this.id = id;
  }
  attach(ctx: ConnectorContext): void {
    this.ctx = ctx;
  }
  async start(): Promise<void> {
    this.starts++;
    this.ctx.declare({
      name: "thermo-1",
      friendlyName: "Living room",
      location: { type: "Point", coordinates: [5.7, 45.2] },
      services: [
        {
          name: "climate",
          resources: [
            { name: "temperature", kind: "SENSOR", valueType: "float", metadata: { unit: "Cel" } },
            { name: "setpoint", kind: "PROPERTY", valueType: "float", value: 20 },
            { name: "mode", kind: "STATE_VARIABLE", valueType: "string", value: "idle" },
            {
              name: "setTemperature",
              kind: "ACTION",
              valueType: "object",
              parameters: [
                { name: "target", type: "float" },
                { name: "boost", type: "boolean", optional: true },
              ],
            },
          ],
        },
      ],
    });
  }
  async stop(): Promise<void> {
    this.stops++;
  }
  async set(req: ConnectorSetRequest): Promise<void> {
    this.sets.push(req);
  }
  async act(req: ConnectorActRequest): Promise<unknown> {
    if (this.failAct) throw new Error("device offline");
    const target = req.parameters.target as number;
    req.push([
      { provider: "thermo-1", service: "climate", resource: "mode", value: "heating" },
      { provider: "thermo-1", service: "climate", resource: "setpoint", value: target },
    ]);
    return { accepted: target };
  }
}

async function setup(opts: { policy?: unknown; limits?: { perCaller?: number; total?: number } } = {}) {
  const clock = new FakeClock();
  const scheduler = new ManualScheduler(clock);
  const valueStore = new MemoryValueStore();
  const securityStore = new MemorySecurityStore();
  if (opts.policy !== undefined) await securityStore.savePolicy(opts.policy);
  const crypto = new InsecureTestCrypto();
  const gw = new Gateway({
    clock,
    crypto,
    valueStore,
    securityStore,
    scheduler,
    bootstrapAdminToken: "boot-secret",
    ...(opts.limits ? { subscriptionLimits: opts.limits } : {}),
  });
  const conn = new TestConnector();
  await gw.registerConnector(conn);
  await gw.start();
  conn.ctx.push({ provider: "thermo-1", service: "climate", resource: "temperature", value: 21.5 });
  return { gw, clock, scheduler, valueStore, securityStore, conn, crypto };
}

describe("Gateway GET", () => {
  it("returns the sensiNact GET_RESPONSE envelope with metadata", async () => {
    const { gw, clock } = await setup();
    expect(gw.get(ANONYMOUS, "/thermo-1/climate/temperature")).toEqual({
      response: { timestamp: clock.now(), name: "temperature", type: "float", value: 21.5, unit: "Cel" },
      statusCode: 200,
      type: "GET_RESPONSE",
      uri: "/thermo-1/climate/temperature",
    });
  });
  it("reports unknown resources as 404 in the envelope, with no response", async () => {
    const { gw } = await setup();
    const r = gw.get(ANONYMOUS, "/thermo-1/climate/nope");
    expect(r).toMatchObject({
      statusCode: 404,
      type: "GET_RESPONSE",
      error: { code: "RELAIS_ERR_MODEL_NOT_FOUND" },
    });
    expect("response" in r).toBe(false);
  });
  it("rejects invalid paths and names", async () => {
    const { gw } = await setup();
    expect(gw.get(ANONYMOUS, "/a/b")).toMatchObject({
      statusCode: 400,
      error: { code: "RELAIS_ERR_MODEL_INVALID_PATH" },
    });
    expect(gw.get(ANONYMOUS, "/a/b c/d")).toMatchObject({ error: { code: "RELAIS_ERR_MODEL_INVALID_NAME" } });
  });
  it("refuses GET on an ACTION (405), or hides it (404) from who may not ACT", async () => {
    const { gw } = await setup();
    expect(gw.get(ADMIN, "/thermo-1/climate/setTemperature")).toMatchObject({
      statusCode: 405,
      error: { code: "RELAIS_ERR_ACCESS_NOT_ALLOWED" },
    });
    expect(gw.get(ANONYMOUS, "/thermo-1/climate/setTemperature")).toMatchObject({ statusCode: 404 });
  });
  it("ignores updates older than the stored value", async () => {
    const { gw, conn, clock } = await setup();
    conn.ctx.push({
      provider: "thermo-1",
      service: "climate",
      resource: "temperature",
      value: 5,
      timestamp: clock.now() - 1,
    });
    expect(gw.get(ANONYMOUS, "/thermo-1/climate/temperature")).toMatchObject({ response: { value: 21.5 } });
    conn.ctx.push({
      provider: "thermo-1",
      service: "climate",
      resource: "temperature",
      value: 6,
      timestamp: clock.now() + 1,
    });
    expect(gw.get(ANONYMOUS, "/thermo-1/climate/temperature")).toMatchObject({ response: { value: 6 } });
  });
  it("exposes the implicit admin service", async () => {
    const { gw } = await setup();
    expect(gw.get(ANONYMOUS, "/thermo-1/admin/friendlyName")).toMatchObject({
      response: { value: "Living room" },
    });
    expect(gw.get(ANONYMOUS, "/thermo-1/admin/location")).toMatchObject({
      response: { type: "geojson", value: { type: "Point", coordinates: [5.7, 45.2] } },
    });
  });
});

describe("Gateway SET", () => {
  it("sets a PROPERTY through its connector and answers SET_RESPONSE", async () => {
    const { gw, conn, clock } = await setup();
    clock.advance(10);
    const r = await gw.set(ADMIN, "/thermo-1/climate/setpoint", 22.5);
    expect(r).toEqual({
      response: { timestamp: clock.now(), name: "setpoint", type: "float", value: 22.5 },
      statusCode: 200,
      type: "SET_RESPONSE",
      uri: "/thermo-1/climate/setpoint",
    });
    expect(conn.sets).toEqual([
      {
        uri: "/thermo-1/climate/setpoint",
        provider: "thermo-1",
        service: "climate",
        resource: "setpoint",
        value: 22.5,
      },
    ]);
  });
  it("refuses SET on a SENSOR or STATE_VARIABLE (405)", async () => {
    const { gw } = await setup();
    for (const uri of ["/thermo-1/climate/temperature", "/thermo-1/climate/mode"]) {
      expect(await gw.set(ADMIN, uri, 1)).toMatchObject({
        statusCode: 405,
        error: { code: "RELAIS_ERR_ACCESS_NOT_ALLOWED" },
      });
    }
  });
  it("checks the value type", async () => {
    const { gw } = await setup();
    expect(await gw.set(ADMIN, "/thermo-1/climate/setpoint", "hot")).toMatchObject({
      statusCode: 400,
      error: { code: "RELAIS_ERR_ACCESS_TYPE_MISMATCH", details: { expected: "float" } },
    });
  });
  it("needs an authenticated caller with the right (DEFAULT profile)", async () => {
    const { gw } = await setup();
    expect(await gw.set(ANONYMOUS, "/thermo-1/climate/setpoint", 1)).toMatchObject({
      statusCode: 401,
      error: { code: "RELAIS_ERR_SECURITY_UNAUTHENTICATED" },
    });
    expect(await gw.set(ALICE, "/thermo-1/climate/setpoint", 1)).toMatchObject({
      statusCode: 403,
      error: { code: "RELAIS_ERR_SECURITY_FORBIDDEN" },
    });
  });
  it("reports a stopped connector as unavailable (503)", async () => {
    const { gw } = await setup();
    await gw.stop();
    expect(await gw.set(ADMIN, "/thermo-1/climate/setpoint", 1)).toMatchObject({
      statusCode: 503,
      error: { code: "RELAIS_ERR_ACCESS_UNAVAILABLE" },
    });
  });
});

describe("Gateway ACT", () => {
  it("runs the action on its connector and lists the triggered state variables", async () => {
    const { gw, clock } = await setup();
    const r = await gw.act(ADMIN, "/thermo-1/climate/setTemperature", [{ name: "target", value: 23 }]);
    expect(r).toMatchObject({
      response: { result: { accepted: 23 }, status: "EXECUTED", start: clock.now(), end: clock.now() },
      statusCode: 200,
      type: "ACT_RESPONSE",
      uri: "/thermo-1/climate/setTemperature",
    });
    if (!("response" in r)) throw new Error("expected a response");
    expect(typeof r.response.taskId).toBe("string");
    // Only the STATE_VARIABLE is "triggered"; the PROPERTY changed too but is not a state variable.
    expect(r.triggered).toEqual([
      {
        response: { timestamp: clock.now(), name: "mode", type: "string", value: "heating" },
        statusCode: 200,
        type: "SET_RESPONSE",
        uri: "/thermo-1/climate/mode",
      },
    ]);
    expect(gw.get(ANONYMOUS, "/thermo-1/climate/setpoint")).toMatchObject({ response: { value: 23 } });
  });
  it("validates parameters: missing, unknown, mistyped", async () => {
    const { gw } = await setup();
    const uri = "/thermo-1/climate/setTemperature";
    expect(await gw.act(ADMIN, uri, {})).toMatchObject({
      statusCode: 400,
      error: { code: "RELAIS_ERR_ACCESS_BAD_PARAMETERS", details: { missing: ["target"] } },
    });
    expect(await gw.act(ADMIN, uri, { target: 1, extra: 2 })).toMatchObject({
      error: { code: "RELAIS_ERR_ACCESS_BAD_PARAMETERS", details: { unknown: ["extra"] } },
    });
    expect(await gw.act(ADMIN, uri, { target: "x" })).toMatchObject({
      error: {
        code: "RELAIS_ERR_ACCESS_BAD_PARAMETERS",
        details: { parameter: "target", expected: "float" },
      },
    });
  });
  it("reports an aborted task with the error envelope", async () => {
    const { gw, conn } = await setup();
    conn.failAct = true;
    const r = await gw.act(ADMIN, "/thermo-1/climate/setTemperature", { target: 1 });
    expect(r).toMatchObject({
      statusCode: 502,
      type: "ACT_RESPONSE",
      error: {
        code: "RELAIS_ERR_ACCESS_ACTION_FAILED",
        details: { status: "ABORTED", cause: "device offline" },
      },
    });
  });
  it("refuses ACT on a non-action; hides actions from callers who may not ACT (404)", async () => {
    const { gw } = await setup();
    expect(await gw.act(ADMIN, "/thermo-1/climate/setpoint", {})).toMatchObject({ statusCode: 405 });
    expect(await gw.act(ANONYMOUS, "/thermo-1/climate/setTemperature", { target: 1 })).toMatchObject({
      statusCode: 404,
    });
  });
});

describe("Gateway SUBSCRIBE / UNSUBSCRIBE", () => {
  it("delivers notifications matching the conditions, then stops after UNSUBSCRIBE", async () => {
    const { gw, conn, clock } = await setup();
    const got: SubscriptionNotification[] = [];
    const sub = gw.subscribe(ANONYMOUS, "/thermo-1/climate/temperature", {
      listener: (n) => got.push(n),
      conditions: [{ operator: ">", operand: 22 }],
    });
    if (!("response" in sub)) throw new Error(JSON.stringify(sub));
    expect(sub).toMatchObject({
      statusCode: 200,
      type: "SUBSCRIBE_RESPONSE",
      uri: "/thermo-1/climate/temperature",
    });
    const id = sub.response.subscriptionId;
    for (const v of [21, 23, 22, 25]) {
      clock.advance(1000);
      conn.ctx.push({ provider: "thermo-1", service: "climate", resource: "temperature", value: v });
    }
    expect(got.map((n) => n.value)).toEqual([23, 25]);
    expect(got[0]).toEqual({
      type: "SUBSCRIPTION_NOTIFICATION",
      subscriptionId: id,
      uri: "/thermo-1/climate/temperature",
      timestamp: got[0]!.timestamp,
      value: 23,
    });
    const un = gw.unsubscribe(ANONYMOUS, "/thermo-1/climate/temperature", id);
    expect(un).toMatchObject({
      statusCode: 200,
      type: "UNSUBSCRIBE_RESPONSE",
      response: { status: "EXECUTED" },
    });
    conn.ctx.push({
      provider: "thermo-1",
      service: "climate",
      resource: "temperature",
      value: 30,
      timestamp: clock.now() + 1,
    });
    expect(got).toHaveLength(2);
    expect(gw.unsubscribe(ANONYMOUS, "/x", id)).toMatchObject({
      statusCode: 404,
      error: { code: "RELAIS_ERR_ACCESS_SUBSCRIPTION_NOT_FOUND" },
    });
  });
  it("supports every operator", async () => {
    const { gw, conn, clock } = await setup();
    const cases: [unknown, number[]][] = [
      [[{ operator: "=", operand: 2 }], [2, 2]],
      [[{ operator: "!=", operand: 2 }], [1, 3]],
      [[{ operator: "<", operand: 2 }], [1]],
      [[{ operator: "<=", operand: 2 }], [1, 2, 2]],
      [[{ operator: ">=", operand: 2 }], [2, 2, 3]],
      [[{ operator: "changed" }], [1, 2, 3]],
    ];
    const results = cases.map(([conditions]) => {
      const got: unknown[] = [];
      gw.subscribe(ANONYMOUS, "/thermo-1/climate/temperature", {
        listener: (n) => got.push(n.value),
        conditions,
      });
      return got;
    });
    // Stored value before is 21.5.
    for (const v of [1, 2, 2, 3]) {
      clock.advance(1);
      conn.ctx.push({ provider: "thermo-1", service: "climate", resource: "temperature", value: v });
    }
    results.forEach((got, i) => {
      expect(got, JSON.stringify(cases[i]![0])).toEqual(cases[i]![1]);
    });
  });
  it("rejects bad conditions", async () => {
    const { gw } = await setup();
    for (const conditions of [
      [{ operator: "~" }],
      [{ operator: ">" }],
      [{ operator: ">", operand: {} }],
      "x",
    ]) {
      expect(
        gw.subscribe(ANONYMOUS, "/thermo-1/climate/temperature", { listener: () => undefined, conditions }),
      ).toMatchObject({
        statusCode: 400,
        error: { code: "RELAIS_ERR_ACCESS_BAD_CONDITION" },
      });
    }
  });
  it("delivers lifecycle events on a branch subscription", async () => {
    const { gw } = await setup();
    const got: SubscriptionNotification[] = [];
    gw.subscribe(ADMIN, "/", {
      listener: (n) => got.push(n),
      events: ["LIFECYCLE"],
      conditions: [{ operator: "=", operand: "PROVIDER_CREATED" }],
    });
    gw.applyUpdates(ADMIN, [{ provider: "new-1", service: "s", resource: "r", value: 1 }]);
    expect(got).toEqual([
      expect.objectContaining({ uri: "/new-1", value: "PROVIDER_CREATED", event: "LIFECYCLE" }),
    ]);
  });
  it("enforces per-caller and global limits (429)", async () => {
    const { gw } = await setup({ limits: { perCaller: 2, total: 3 } });
    const sub = (p: typeof ANONYMOUS) =>
      gw.subscribe(p, "/thermo-1/climate/temperature", { listener: () => undefined });
    expect(sub(ANONYMOUS).statusCode).toBe(200);
    expect(sub(ANONYMOUS).statusCode).toBe(200);
    expect(sub(ANONYMOUS)).toMatchObject({
      statusCode: 429,
      error: { code: "RELAIS_ERR_ACCESS_SUBSCRIPTION_LIMIT", details: { scope: "caller" } },
    });
    expect(sub(ALICE).statusCode).toBe(200);
    expect(sub(ADMIN)).toMatchObject({ statusCode: 429, error: { details: { scope: "total" } } });
  });
  it("only lets the subscriber (or an admin) unsubscribe", async () => {
    const { gw } = await setup();
    const s = gw.subscribe(ALICE, "/thermo-1/climate/temperature", { listener: () => undefined });
    if (!("response" in s)) throw new Error("subscribe failed");
    expect(
      gw.unsubscribe(
        principal("bob", "AUTHENTICATED"),
        "/thermo-1/climate/temperature",
        s.response.subscriptionId,
      ).statusCode,
    ).toBe(404);
    expect(gw.unsubscribe(ADMIN, "/thermo-1/climate/temperature", s.response.subscriptionId).statusCode).toBe(
      200,
    );
  });
});

describe("Gateway DESCRIBE", () => {
  it("describes providers, services and resources with the caller's access methods", async () => {
    const { gw } = await setup();
    expect(gw.describeProviders(ANONYMOUS)).toMatchObject({
      statusCode: 200,
      type: "PROVIDERS_LIST",
      response: [{ name: "thermo-1", friendlyName: "Living room", location: { type: "Point" } }],
    });
    expect(gw.describeProvider(ANONYMOUS, "thermo-1")).toMatchObject({
      response: { services: ["admin", "climate"] },
    });
    expect(gw.describeServices(ANONYMOUS, "thermo-1")).toMatchObject({ type: "SERVICES_LIST" });
    expect(gw.describeService(ANONYMOUS, "thermo-1", "climate")).toMatchObject({
      response: { resources: ["temperature", "setpoint", "mode"] },
    });
    // An action anonymous callers may not ACT is not shown to them at all ("sees only what they may use").
    expect(gw.describeService(ADMIN, "thermo-1", "climate")).toMatchObject({
      response: { resources: ["temperature", "setpoint", "mode", "setTemperature"] },
    });
    expect(gw.describeResource(ANONYMOUS, "thermo-1", "climate", "setTemperature")).toMatchObject({
      statusCode: 404,
    });
    expect(gw.describeResource(ANONYMOUS, "thermo-1", "climate", "setpoint")).toMatchObject({
      response: { type: "PROPERTY", valueType: "float", accessMethods: ["GET", "SUBSCRIBE", "UNSUBSCRIBE"] },
    });
    expect(gw.describeResource(ADMIN, "thermo-1", "climate", "setpoint")).toMatchObject({
      response: { accessMethods: ["GET", "SET", "SUBSCRIBE", "UNSUBSCRIBE"] },
    });
    const res = gw.describeResources(ADMIN, "thermo-1", "climate");
    if (!("response" in res)) throw new Error("describe failed");
    const act = res.response.find((r) => r.name === "setTemperature");
    expect(act).toMatchObject({
      type: "ACTION",
      accessMethods: ["ACT"],
      parameters: [{ name: "target", type: "float" }, { name: "boost" }],
    });
    expect(res.response.find((r) => r.name === "temperature")?.metadata.unit?.value).toBe("Cel");
    expect(gw.describeProvider(ANONYMOUS, "nope")).toMatchObject({ statusCode: 404 });
  });
});

describe("Gateway policy tree", () => {
  const partner = principal("partner-beta", "AUTHENTICATED");
  const policy = (() => {
    let p = withGrant(emptyPolicy(), ["ext-*"], "partner-beta", ["SET", "CREATE"]);
    p = withProfile(p, ["secret-*"], { DESCRIBE: "ADMIN", GET: "ADMIN" });
    p = withProfile(p, ["secret-*", "public"], { DESCRIBE: "ANONYMOUS", GET: "ANONYMOUS" });
    return p;
  })();

  it("lets a granted account create and set under ext-* only", async () => {
    const { gw } = await setup({ policy });
    const ok = gw.applyUpdates(partner, [
      { provider: "ext-meter", service: "power", resource: "active", value: 312.5, metadata: { unit: "W" } },
    ]);
    expect(ok).toEqual({ applied: 1, stale: 0, created: ["/ext-meter/power/active"], rejected: [] });
    expect(gw.get(ANONYMOUS, "/ext-meter/power/active")).toMatchObject({
      response: { value: 312.5, unit: "W", type: "float" },
    });
    const denied = gw.applyUpdates(partner, [
      { provider: "ext-meter", service: "power", resource: "active", value: 1 },
      { provider: "other", service: "power", resource: "active", value: 2 },
    ]);
    expect(denied).toMatchObject({
      applied: 0,
      rejected: [{ index: 1, code: "RELAIS_ERR_SECURITY_FORBIDDEN" }],
    });
    expect(gw.get(ANONYMOUS, "/ext-meter/power/active")).toMatchObject({ response: { value: 312.5 } });
    // non-atomic: the valid one is applied
    expect(
      gw.applyUpdates(
        partner,
        [
          { provider: "ext-meter", service: "power", resource: "active", value: 1 },
          { provider: "other", service: "power", resource: "active", value: 2 },
        ],
        { atomic: false },
      ),
    ).toMatchObject({ applied: 1, rejected: [{ index: 1 }] });
    expect(
      gw.applyUpdates(ANONYMOUS, [{ provider: "ext-x", service: "s", resource: "r", value: 1 }]),
    ).toMatchObject({
      rejected: [{ code: "RELAIS_ERR_SECURITY_UNAUTHENTICATED" }],
    });
    // type of an existing resource is kept
    expect(
      gw.applyUpdates(partner, [{ provider: "ext-meter", service: "power", resource: "active", value: "x" }]),
    ).toMatchObject({
      rejected: [{ code: "RELAIS_ERR_ACCESS_TYPE_MISMATCH" }],
    });
  });

  it("hides what the caller may not DESCRIBE (404, never 403), with overrides below", async () => {
    const { gw } = await setup({ policy });
    gw.applyUpdates(OWNER, [
      { provider: "secret-1", service: "hidden", resource: "r", value: 1 },
      { provider: "secret-1", service: "public", resource: "r", value: 2 },
    ]);
    expect(gw.describeProviders(ANONYMOUS).statusCode).toBe(200);
    const names = (p: typeof ANONYMOUS) => {
      const e = gw.describeProviders(p);
      return "response" in e ? e.response.map((x) => x.name) : [];
    };
    expect(names(ANONYMOUS)).toEqual(["thermo-1"]);
    expect(names(ADMIN)).toEqual(["thermo-1", "secret-1"]);
    expect(gw.get(ANONYMOUS, "/secret-1/hidden/r")).toMatchObject({
      statusCode: 404,
      error: { code: "RELAIS_ERR_MODEL_NOT_FOUND" },
    });
    // The provider is hidden, so its "public" service is hidden too (a branch is visible only with its parents).
    expect(gw.get(ANONYMOUS, "/secret-1/public/r").statusCode).toBe(404);
    expect(gw.get(ADMIN, "/secret-1/hidden/r")).toMatchObject({ response: { value: 1 } });
    expect(gw.allows(ANONYMOUS, "GET", "/secret-1/public/r")).toBe(false);
    expect(gw.describeResource(ANONYMOUS, "secret-1", "hidden", "r").statusCode).toBe(404);
  });

  it("persists the policy and refuses invalid documents", async () => {
    const { gw, securityStore } = await setup();
    await gw.setPolicy(ADMIN, policy);
    expect(await securityStore.loadPolicy()).toEqual(policy);
    await expect(
      gw.setPolicy(ADMIN, { version: 1, root: { profile: { GET: "ROOT" } } }),
    ).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_POLICY",
    });
    await expect(gw.setPolicy(ALICE, policy)).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_FORBIDDEN",
    });
    await expect(gw.setPolicy(ANONYMOUS, policy)).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_UNAUTHENTICATED",
    });
  });

  it("can close anonymous access at the root", async () => {
    const closed = withProfile(emptyPolicy(), [], {
      DESCRIBE: "AUTHENTICATED",
      GET: "AUTHENTICATED",
      SUBSCRIBE: "AUTHENTICATED",
    });
    const { gw } = await setup({ policy: closed });
    expect(gw.get(ANONYMOUS, "/thermo-1/climate/temperature").statusCode).toBe(404);
    expect(gw.describeProviders(ANONYMOUS)).toMatchObject({ response: [] });
    expect(gw.get(ALICE, "/thermo-1/climate/temperature").statusCode).toBe(200);
  });
});

describe("Gateway authentication and accounts", () => {
  it("checks a password hash for an unknown user too, so timing does not reveal which accounts exist", async () => {
    const { gw, crypto } = await setup();
    const boot = await gw.authenticateHeader("Bearer boot-secret");
    await gw.createAccount(boot, { name: "alice", level: "AUTHENTICATED", password: "s3cret-pass" });
    const checks: string[] = [];
    const verify = crypto.verifyPassword.bind(crypto);
    crypto.verifyPassword = async (password, hash) => {
      checks.push(password);
      return verify(password, hash);
    };
    for (const header of [`Basic ${btoa("alice:wrong")}`, `Basic ${btoa("nobody:wrong")}`]) {
      await expect(gw.authenticateHeader(header)).rejects.toMatchObject({
        code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
      });
    }
    expect(checks).toEqual(["wrong", "wrong"]); // one hash check each, known user or not
  });

  it("authenticates Basic, Bearer, the bootstrap token and anonymous", async () => {
    const { gw } = await setup();
    const boot = await gw.authenticateHeader("Bearer boot-secret");
    expect(boot).toEqual({ account: "relais-admin", level: "OWNER" });
    await gw.createAccount(boot, { name: "alice", level: "AUTHENTICATED", password: "s3cret-pass" });
    const basic = `Basic ${btoa("alice:s3cret-pass")}`;
    expect(await gw.authenticateHeader(basic)).toEqual({ account: "alice", level: "AUTHENTICATED" });
    await expect(gw.authenticateHeader(`Basic ${btoa("alice:wrong")}`)).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
    const { token, info } = await gw.createToken(principal("alice", "AUTHENTICATED"), {
      account: "alice",
      label: "cli",
      ttlMs: 1000,
    });
    expect(await gw.authenticate({ kind: "bearer", token })).toEqual({
      account: "alice",
      level: "AUTHENTICATED",
    });
    expect(info.id).not.toContain(token);
    expect(await gw.authenticateHeader(undefined)).toBe(ANONYMOUS);
    await expect(gw.authenticateHeader("Digest x")).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
    await expect(gw.createAccount(boot, { name: "alice", level: "ADMIN" })).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_ACCOUNT_EXISTS",
    });
    await expect(
      gw.createAccount(boot, { name: "bob", level: "ADMIN", password: "short" }),
    ).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_WEAK_PASSWORD",
    });
    await expect(gw.createAccount(ADMIN, { name: "evil", level: "OWNER" })).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_FORBIDDEN",
    });
    await gw.deleteAccount(boot, "alice");
    await expect(gw.authenticate({ kind: "bearer", token })).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
    await expect(gw.deleteAccount(boot, "alice")).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND",
    });
  });
  it("rejects expired tokens", async () => {
    const { gw, clock } = await setup();
    await gw.createAccount(OWNER, { name: "carol", level: "ADMIN" });
    const { token } = await gw.createToken(OWNER, { account: "carol", label: "x", ttlMs: 1000 });
    expect((await gw.authenticate({ kind: "bearer", token })).level).toBe("ADMIN");
    clock.advance(1000);
    await expect(gw.authenticate({ kind: "bearer", token })).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
  });
});

describe("Gateway persistence and lifecycle", () => {
  it("writes behind in batches and restores current values after a restart", async () => {
    const { gw, valueStore, conn, scheduler, clock, securityStore, crypto } = await setup();
    expect(valueStore.size).toBe(0); // nothing written on the hot path
    scheduler.advance(1000);
    await gw.flush(); // let the timer-started flush settle
    const afterTick = valueStore.batches;
    expect(afterTick).toBeGreaterThan(0);
    expect(valueStore.size).toBeGreaterThan(0);
    conn.ctx.push({
      provider: "thermo-1",
      service: "climate",
      resource: "temperature",
      value: 18.25,
      timestamp: clock.now() + 5,
    });
    await gw.stop(); // flushes
    expect(conn.stops).toBe(1);
    await gw.stop();
    expect(conn.stops).toBe(1);

    const gw2 = new Gateway({ clock, crypto, valueStore, securityStore, scheduler });
    await gw2.start();
    expect(gw2.get(ANONYMOUS, "/thermo-1/climate/temperature")).toMatchObject({
      response: { value: 18.25, timestamp: clock.now() + 5, unit: "Cel" },
    });
    await gw2.stop();
  });
  it("starts connectors once (idempotent start)", async () => {
    const { gw, conn } = await setup();
    await gw.start();
    expect(conn.starts).toBe(1);
    expect(gw.connectorStatus()).toEqual([{ id: "test", running: true, error: null }]);
  });
  it("persists removals", async () => {
    const { gw, valueStore } = await setup();
    gw.applyUpdates(ADMIN, [{ provider: "tmp", service: "s", resource: "r", value: true }]);
    await gw.flush();
    const before = valueStore.size;
    gw.remove(ADMIN, "/tmp");
    await gw.flush();
    expect(valueStore.size).toBe(before - 4); // r + 3 admin resources
    expect(() => gw.remove(ANONYMOUS, "/thermo-1")).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_SECURITY_UNAUTHENTICATED" }),
    );
  });
});
