/**
 * `relais demo` (CONTRACTS.md §1): two gateways, alpha and beta, in one process, each with
 * simulated devices and a consumer sending its meter data to the other, so data flows both ways.
 *
 * On each gateway (idempotent: a restart keeps the data and finds its setup in place):
 * - the local account `alice` (AUTHENTICATED), granted DESCRIBE/GET/SET/CREATE/SUBSCRIBE under
 *   providers `ext-*`: the only place the federation may write;
 * - the federated user alice@example.org with a UserApp for the local system naming that account;
 * - the Apps: this gateway's own JID (the local system) and the peer's JID, whose default user is
 *   alice, so a plain SenML message from the peer's JID, sent by any XMPP client, lands here;
 * - a real-time consumer: alice's data `meter-*` goes to the peer, renamed `ext-<gateway>-meter-*`.
 */
import { join } from "node:path";
import { type BootConfig } from "./config.js";
import { isRelaisError } from "./core/errors.js";
import type { Logger, Transport } from "./core/ports.js";
import { principal } from "./core/security/principal.js";
import type { DeviceConfig } from "./connectors/simulator/simulator.js";
import { MemoryHub } from "./federation/memory-transport.js";
import { XmppTransport } from "./adapters/xmpp/xmpp-transport.js";
import { assemble, type RelaisGateway } from "./main.js";

export const DEMO_USER = "alice@example.org";
export const DEMO_ACCOUNT = "alice";
const SETUP_PRINCIPAL = principal("relais-demo", "OWNER");

export const DEMO_DEVICES: Readonly<Record<"alpha" | "beta", DeviceConfig[]>> = {
  alpha: [
    { kind: "meter", id: "meter-1", friendlyName: "Alpha main meter" },
    { kind: "thermostat", id: "thermostat-1", friendlyName: "Alpha office" },
    { kind: "door", id: "door-1", friendlyName: "Alpha entrance" },
    { kind: "gps", id: "gps-1", friendlyName: "Alpha van", position: [5.72, 45.18] },
  ],
  beta: [
    { kind: "meter", id: "meter-7", friendlyName: "Beta plant meter" },
    { kind: "thermostat", id: "thermostat-7", friendlyName: "Beta lab" },
  ],
};

export interface DemoPlan {
  transport: "memory" | "xmpp";
  gateways: { name: "alpha" | "beta"; jid: string; config: BootConfig }[];
}

/** Which transport and which two configurations the demo runs with. */
export function planDemo(base: BootConfig): DemoPlan {
  const xmpp = base.xmppService !== null && base.xmppDomain !== null;
  const domain = base.xmppDomain ?? "demo.local";
  const gateways = (["alpha", "beta"] as const).map((name, i) => ({
    name,
    jid: `${name}@${domain}`,
    config: Object.freeze({
      ...base,
      // each demo gateway keeps its own embedded database: two gateways cannot share one schema
      databaseUrl: null,
      dataDir: join(base.dataDir, "demo", name),
      httpPort: base.httpPort === 0 ? 0 : base.httpPort + i,
      xmppJid: `${name}@${domain}`,
    }),
  }));
  return { transport: xmpp ? "xmpp" : "memory", gateways };
}

async function ignoreExisting(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(
      isRelaisError(e) &&
      (e.code === "RELAIS_ERR_SECURITY_ACCOUNT_EXISTS" || e.code === "RELAIS_ERR_DB_CONFLICT")
    ))
      throw e;
  }
}

/** Puts the demo's accounts, policy, users, apps and consumer on one gateway (idempotent). */
export async function setupDemoGateway(
  node: RelaisGateway,
  selfJid: string,
  peer: { name: string; jid: string },
): Promise<void> {
  const { gateway, stores } = node;
  await ignoreExisting(() =>
    gateway.createAccount(SETUP_PRINCIPAL, { name: DEMO_ACCOUNT, level: "AUTHENTICATED" }),
  );
  await gateway.setPolicy(SETUP_PRINCIPAL, {
    version: 1,
    root: {
      children: {
        "ext-*": {
          grants: [
            {
              account: DEMO_ACCOUNT,
              methods: ["DESCRIBE", "GET", "SET", "CREATE", "SUBSCRIBE", "UNSUBSCRIBE"],
            },
          ],
        },
      },
    },
  });
  const user =
    (await stores.users.getByFederatedId(DEMO_USER)) ??
    (await stores.users.add({ federatedId: DEMO_USER, displayName: "Alice (demo)" }));
  const local =
    (await stores.apps.getByJid(selfJid)) ??
    (await stores.apps.add({
      name: `${node.name}-local`,
      jid: selfJid,
      description: "this gateway's own data",
    }));
  const remote =
    (await stores.apps.getByJid(peer.jid)) ??
    (await stores.apps.add({
      name: peer.name,
      jid: peer.jid,
      description: `the demo peer ${peer.name}`,
      defaultUserId: user.id,
    }));
  const userApp = await stores.userApps.set(user.id, local.id, { account: DEMO_ACCOUNT });
  const existing = await stores.consumers.list({ userAppId: userApp.id, consumerAppId: remote.id });
  if (existing.length === 0) {
    await stores.consumers.add({
      userAppId: userApp.id,
      consumerAppId: remote.id,
      selector: "meter-*",
      mapping: { provider: `ext-${node.name}-*` },
      realtime: true,
    });
  }
  await node.federation.refresh();
}

export interface RunningDemo {
  plan: DemoPlan;
  gateways: RelaisGateway[];
  stop(): Promise<void>;
}

/** Assembles, sets up and starts both demo gateways. */
export async function startDemo(base: BootConfig, logger: Logger): Promise<RunningDemo> {
  const plan = planDemo(base);
  const hub = plan.transport === "memory" ? new MemoryHub() : null;
  const transportFor = (jid: string): Transport =>
    hub
      ? hub.transport(jid)
      : new XmppTransport({
          service: base.xmppService!,
          jid,
          password: base.xmppPassword ?? "",
          allowInsecure: base.xmppAllowInsecure,
          logger: logger.child({ component: "xmpp", jid }),
        });
  const gateways: RelaisGateway[] = [];
  try {
    for (const g of plan.gateways) {
      gateways.push(
        await assemble({
          config: g.config,
          logger,
          name: g.name,
          transport: transportFor(g.jid),
          devices: DEMO_DEVICES[g.name],
          seed: g.name === "alpha" ? 1 : 7,
        }),
      );
    }
    for (const [i, node] of gateways.entries()) {
      const self = plan.gateways[i]!;
      const peer = plan.gateways[1 - i]!;
      await node.start();
      await setupDemoGateway(node, self.jid, { name: peer.name, jid: peer.jid });
    }
  } catch (e) {
    await Promise.all(gateways.map((g) => g.stop()));
    throw e;
  }
  return {
    plan,
    gateways,
    stop: async () => {
      await Promise.all(gateways.map((g) => g.stop()));
    },
  };
}
