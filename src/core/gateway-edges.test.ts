/** Edge cases of the Gateway facade: connectors, persistence failures, filtering, admin use cases. */
import { describe, expect, it } from "vitest";
import { Gateway } from "./gateway.js";
import { MemoryValueStore } from "./model/memory-value-store.js";
import { MemorySecurityStore } from "./security/memory-security-store.js";
import { FakeClock, InsecureTestCrypto, ManualScheduler } from "./testing/fakes.js";
import type { Connector, ConnectorContext, StoredResource } from "./ports.js";
import { ANONYMOUS, principal } from "./security/principal.js";
import { emptyPolicy, withProfile } from "./security/policy.js";
import type { SubscriptionNotification } from "./access/envelopes.js";

const ADMIN = principal("admin", "ADMIN");
const OWNER = principal("root", "OWNER");

class FlakyStore extends MemoryValueStore {
  failures = 0;
  override async saveBatch(resources: readonly StoredResource[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error("db down");
    }
    return super.saveBatch(resources);
  }
}

class BareConnector implements Connector {
  ctx!: ConnectorContext;
  failStart = false;
  constructor(readonly id: string) {}
  attach(ctx: ConnectorContext): void {
    this.ctx = ctx;
  }
  async start(): Promise<void> {
    if (this.failStart) throw new Error("no such device");
  }
  async stop(): Promise<void> {}
}

function make(opts: { valueStore?: MemoryValueStore; flushBatchSize?: number } = {}) {
  const clock = new FakeClock();
  const scheduler = new ManualScheduler(clock);
  const valueStore = opts.valueStore ?? new MemoryValueStore();
  const securityStore = new MemorySecurityStore();
  const gw = new Gateway({
    clock,
    scheduler,
    valueStore,
    securityStore,
    crypto: new InsecureTestCrypto(),
    ...(opts.flushBatchSize !== undefined ? { flushBatchSize: opts.flushBatchSize } : {}),
  });
  return { gw, clock, scheduler, valueStore, securityStore };
}

describe("connectors", () => {
  it("keeps providers to their owning connector and validates pushes atomically", async () => {
    const { gw } = make();
    const a = new BareConnector("a");
    const b = new BareConnector("b");
    await gw.registerConnector(a);
    await gw.registerConnector(b);
    await gw.start();
    a.ctx.declare({
      name: "dev",
      services: [{ name: "s", resources: [{ name: "x", kind: "SENSOR", valueType: "integer" }] }],
    });
    expect(() => {
      b.ctx.declare({ name: "dev", services: [] });
    }).toThrow(expect.objectContaining({ code: "RELAIS_ERR_MODEL_CONFLICT" }));
    expect(() => {
      b.ctx.push({ provider: "dev", service: "s", resource: "x", value: 1 });
    }).toThrow(expect.objectContaining({ code: "RELAIS_ERR_MODEL_NOT_FOUND" }));
    expect(() => {
      a.ctx.push([
        { provider: "dev", service: "s", resource: "x", value: 1 },
        { provider: "dev", service: "s", resource: "x", value: 1.5 },
      ]);
    }).toThrow(expect.objectContaining({ code: "RELAIS_ERR_ACCESS_TYPE_MISMATCH" }));
    expect(gw.get(ANONYMOUS, "/dev/s/x")).toMatchObject({ response: { value: null, timestamp: null } });
    a.ctx.remove("dev", "s", "x");
    expect(gw.get(ANONYMOUS, "/dev/s/x").statusCode).toBe(404);
    expect(() => {
      b.ctx.remove("dev");
    }).toThrow(expect.objectContaining({ code: "RELAIS_ERR_MODEL_NOT_FOUND" }));
    await expect(gw.registerConnector(new BareConnector("a"))).rejects.toThrow("already registered");
  });

  it("reports a connector that fails to start, and ACT without a handler as unavailable", async () => {
    const { gw } = make();
    const c = new BareConnector("c");
    c.failStart = true;
    await gw.registerConnector(c);
    await gw.start();
    expect(gw.connectorStatus()).toEqual([{ id: "c", running: false, error: "no such device" }]);
    c.ctx.declare({
      name: "dev",
      services: [{ name: "s", resources: [{ name: "go", kind: "ACTION", valueType: "object" }] }],
    });
    expect(await gw.act(ADMIN, "/dev/s/go")).toMatchObject({
      statusCode: 503,
      error: { code: "RELAIS_ERR_ACCESS_UNAVAILABLE", details: { status: "ABORTED" } },
    });
  });
});

describe("write-behind persistence", () => {
  it("retries a failed flush and flushes early when the batch is full", async () => {
    const store = new FlakyStore();
    const { gw, scheduler } = make({ valueStore: store, flushBatchSize: 10_000 });
    await gw.start();
    gw.applyUpdates(OWNER, [{ provider: "p", service: "s", resource: "r", value: 1 }]);
    store.failures = 1;
    await expect(gw.flush()).rejects.toThrow("db down");
    expect(store.size).toBe(0);
    expect(gw.stats().dirty).toBe(4);
    scheduler.advance(1000);
    await gw.flush();
    expect(store.size).toBe(4);
    expect(gw.stats().dirty).toBe(0);
  });

  it("starts a flush on its own when flushBatchSize resources are dirty", async () => {
    const store = new MemoryValueStore();
    const { gw } = make({ valueStore: store, flushBatchSize: 8 });
    await gw.start();
    gw.applyUpdates(OWNER, [
      { provider: "p1", service: "s", resource: "r", value: 1 },
      { provider: "p2", service: "s", resource: "r", value: 1 },
    ]);
    await Promise.resolve();
    await gw.flush();
    expect(store.batches).toBeGreaterThanOrEqual(1);
    expect(store.size).toBe(8);
  });
});

describe("subscriptions and the policy", () => {
  it("filters branch subscriptions per event and delivers metadata events", async () => {
    const { gw, securityStore } = make();
    await securityStore.savePolicy(
      withProfile(emptyPolicy(), ["secret-*"], { DESCRIBE: "ADMIN", SUBSCRIBE: "ADMIN" }),
    );
    await gw.start();
    const got: SubscriptionNotification[] = [];
    const s = gw.subscribe(ANONYMOUS, "/", { listener: (n) => got.push(n), events: ["DATA", "METADATA"] });
    expect(s.statusCode).toBe(200);
    gw.applyUpdates(OWNER, [
      { provider: "open-1", service: "s", resource: "r", value: 1, metadata: { unit: "W" } },
      { provider: "secret-1", service: "s", resource: "r", value: 2 },
    ]);
    expect(got.map((n) => [n.uri, n.event ?? "DATA", n.value])).toEqual([
      ["/open-1/s/r", "METADATA", { name: "unit", value: "W" }],
      ["/open-1/s/r", "DATA", 1],
    ]);
    expect(gw.subscribe(ANONYMOUS, "/secret-1", { listener: () => undefined }).statusCode).toBe(404);
    expect(gw.subscribe(ANONYMOUS, "/nope/s", { listener: () => undefined }).statusCode).toBe(404);
    expect(
      gw.subscribe(ANONYMOUS, "/open-1", { listener: () => undefined, events: ["BOGUS" as "DATA"] }),
    ).toMatchObject({
      statusCode: 400,
    });
  });

  it("keeps delivering when a listener throws", async () => {
    const { gw } = make();
    await gw.start();
    gw.applyUpdates(OWNER, [{ provider: "p", service: "s", resource: "r", value: 0 }]);
    const got: unknown[] = [];
    gw.subscribe(ANONYMOUS, "/p/s/r", {
      listener: () => {
        throw new Error("boom");
      },
    });
    gw.subscribe(ANONYMOUS, "/p/s/r", { listener: (n) => got.push(n.value) });
    gw.applyUpdates(OWNER, [{ provider: "p", service: "s", resource: "r", value: 1 }]);
    expect(got).toEqual([1]);
  });
});

describe("applyUpdates", () => {
  it("creates with the requested kind and type, counts stale updates, rejects bad input", async () => {
    const { gw, clock } = make();
    await gw.start();
    expect(
      gw.applyUpdates(OWNER, [
        { provider: "p", service: "s", resource: "cfg", value: 5, kind: "PROPERTY", valueType: "integer" },
      ]),
    ).toMatchObject({ applied: 1, created: ["/p/s/cfg"] });
    expect(gw.describeResource(ANONYMOUS, "p", "s", "cfg")).toMatchObject({
      response: { type: "PROPERTY", valueType: "integer" },
    });
    expect(
      gw.applyUpdates(OWNER, [
        { provider: "p", service: "s", resource: "cfg", value: 4, timestamp: clock.now() - 1 },
      ]),
    ).toMatchObject({ applied: 0, stale: 1 });
    const bad = gw.applyUpdates(OWNER, [
      { provider: "p", service: "s", resource: "go", value: {}, kind: "ACTION" },
      { provider: "bad name", service: "s", resource: "r", value: 1 },
      { provider: "p", service: "s", resource: "n", value: 1, valueType: "string" },
      { provider: "p", service: "s", resource: "twice", value: 1 },
      { provider: "p", service: "s", resource: "twice", value: "x" },
    ]);
    expect(bad.rejected.map((r) => [r.index, r.code])).toEqual([
      [0, "RELAIS_ERR_ACCESS_NOT_ALLOWED"],
      [1, "RELAIS_ERR_MODEL_INVALID_NAME"],
      [2, "RELAIS_ERR_ACCESS_TYPE_MISMATCH"],
      [4, "RELAIS_ERR_ACCESS_TYPE_MISMATCH"],
    ]);
    expect(bad.applied).toBe(0);
    expect(gw.get(ANONYMOUS, "/p/s/twice").statusCode).toBe(404);
  });
});

describe("accounts and tokens", () => {
  it("covers principalOf, password changes, token listing and revocation", async () => {
    const { gw } = make();
    await gw.start();
    await gw.createAccount(ADMIN, { name: "dave", level: "AUTHENTICATED", password: "password-1" });
    const dave = await gw.principalOf("dave");
    expect(dave).toEqual({ account: "dave", level: "AUTHENTICATED" });
    await expect(gw.principalOf("nobody")).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND",
    });
    await gw.updateAccount(dave, "dave", { password: "password-2" });
    await expect(
      gw.authenticate({ kind: "basic", user: "dave", password: "password-1" }),
    ).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
    expect(await gw.authenticate({ kind: "basic", user: "dave", password: "password-2" })).toEqual(dave);
    await expect(gw.updateAccount(dave, "dave", { level: "ADMIN" })).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_FORBIDDEN",
    });
    await expect(gw.createAccount(ADMIN, { name: "bad name", level: "AUTHENTICATED" })).rejects.toMatchObject(
      {
        code: "RELAIS_ERR_MODEL_INVALID_NAME",
      },
    );
    const { token, info } = await gw.createToken(dave, { account: "dave", label: "laptop" });
    await expect(gw.createToken(dave, { account: "admin", label: "x" })).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_FORBIDDEN",
    });
    expect((await gw.listTokens(dave, "dave")).map((t) => t.label)).toEqual(["laptop"]);
    await expect(gw.listTokens(dave)).rejects.toMatchObject({ code: "RELAIS_ERR_SECURITY_FORBIDDEN" });
    expect(await gw.revokeToken(dave, info.id)).toBe(true);
    await expect(gw.authenticate({ kind: "bearer", token })).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
    await expect(gw.authenticateHeader("Basic !!!notbase64")).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
    await expect(gw.authenticateHeader(`Basic ${btoa("nocolon")}`)).rejects.toMatchObject({
      code: "RELAIS_ERR_SECURITY_BAD_CREDENTIALS",
    });
    expect((await gw.listAccounts(ADMIN)).map((a) => [a.name, a.hasPassword])).toEqual([["dave", true]]);
    expect(gw.getPolicy(ADMIN)).toEqual(emptyPolicy());
  });
});
