/**
 * A real core Gateway (memory stores, simulator connector on a manual scheduler) behind the HTTP
 * app, with accounts: alice (AUTHENTICATED, may SET/ACT under thermostat-1), bob (AUTHENTICATED,
 * no grant), admin (ADMIN); provider vault-1 is hidden from everyone but ADMIN.
 */
import { NodeCrypto } from "../../src/adapters/crypto/node-crypto.js";
import { buildHttpApp, type HttpApp, type HttpDeps } from "../../src/adapters/http/app.js";
import { coreNorthbound } from "../../src/adapters/http/core-adapter.js";
import { Gateway } from "../../src/core/gateway.js";
import { MemoryValueStore } from "../../src/core/model/memory-value-store.js";
import { MemorySecurityStore } from "../../src/core/security/memory-security-store.js";
import { principal } from "../../src/core/security/principal.js";
import { FakeClock, ManualScheduler } from "../../src/core/testing/fakes.js";
import { SimulatorConnector } from "../../src/connectors/simulator/simulator.js";

export const ADMIN_TOKEN = "boot-admin-token-0123456789";

export interface TestGateway {
  gateway: Gateway;
  sim: SimulatorConnector;
  scheduler: ManualScheduler;
  http: HttpApp;
  tokens: { alice: string; bob: string; admin: string };
  basic(user: string, password: string): string;
}

export async function startTestGateway(
  extra: Partial<HttpDeps> | ((gateway: Gateway) => Partial<HttpDeps>) = {},
): Promise<TestGateway> {
  const clock = new FakeClock(Date.now());
  const scheduler = new ManualScheduler(clock);
  const crypto = new NodeCrypto({ cost: 2 ** 10 });
  const gateway = new Gateway({
    clock,
    crypto,
    scheduler,
    valueStore: new MemoryValueStore(),
    securityStore: new MemorySecurityStore(),
    bootstrapAdminToken: ADMIN_TOKEN,
  });
  const sim = new SimulatorConnector({
    scheduler,
    devices: [
      { kind: "thermostat", id: "thermostat-1" },
      { kind: "meter", id: "meter-1" },
      { kind: "door", id: "vault-1" },
    ],
  });
  await gateway.registerConnector(sim);
  await gateway.start();
  const owner = principal("relais-admin", "OWNER");
  for (const [name, level] of [
    ["alice", "AUTHENTICATED"],
    ["bob", "AUTHENTICATED"],
    ["admin", "ADMIN"],
  ] as const)
    await gateway.createAccount(owner, { name, level, password: `${name}-password` });
  await gateway.setPolicy(owner, {
    version: 1,
    root: {
      children: {
        "thermostat-1": { grants: [{ account: "alice", methods: ["SET", "ACT"] }] },
        "vault-1": { profile: { DESCRIBE: "ADMIN", GET: "ADMIN", SUBSCRIBE: "ADMIN", UNSUBSCRIBE: "ADMIN" } },
      },
    },
  });
  const tokens = {
    alice: (await gateway.createToken(owner, { account: "alice", label: "t" })).token,
    bob: (await gateway.createToken(owner, { account: "bob", label: "t" })).token,
    admin: (await gateway.createToken(owner, { account: "admin", label: "t" })).token,
  };
  const http = await buildHttpApp({
    gateway: coreNorthbound(gateway),
    logLevel: "silent",
    ...(typeof extra === "function" ? extra(gateway) : extra),
  });
  return {
    gateway,
    sim,
    scheduler,
    http,
    tokens,
    basic: (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
  };
}
