/**
 * The composition root: the only module that builds concrete adapters (STYLE.md). `relais start`
 * assembles one gateway; `relais demo` assembles two in one process (src/cli/demo.ts).
 *
 * Start order: database (migrated) → stores → core Gateway (values loaded) → connectors →
 * federation (rows left in flight released, jobs scheduled) → HTTP. Stop runs in reverse and
 * lets each part drain: HTTP requests, the federation batch (in-flight rows back to pending),
 * connectors, the write-behind of current values, then the database.
 */
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { loadSecretKey } from "./adapters/crypto/secret-box.js";
import { NodeCrypto } from "./adapters/crypto/node-crypto.js";
import { buildHttpApp, type HttpApp } from "./adapters/http/app.js";
import { coreNorthbound } from "./adapters/http/core-adapter.js";
import type { HealthProbe } from "./adapters/http/ports.js";
import type { Database } from "./adapters/postgres/database.js";
import { openDatabase, openStores } from "./adapters/postgres/open.js";
import type { PgStores } from "./adapters/postgres/pg-stores.js";
import { XmppTransport } from "./adapters/xmpp/xmpp-transport.js";
import type { BootConfig } from "./config.js";
import {
  connectorsProbe,
  createConnectors,
  configStoreSource,
  CONNECTOR_KEY_PREFIX,
  registerConnectorMetrics,
  senmlIngestRoute,
  userAppCredentials,
} from "./connectors/index.js";
import { parseConnectorConfig } from "./connectors/config.js";
import type { ConnectorManager } from "./connectors/manager.js";
import { SimulatorConnector, type DeviceConfig } from "./connectors/simulator/simulator.js";
import { RelaisError } from "./core/errors.js";
import { Gateway } from "./core/gateway.js";
import { systemClock, timerScheduler, type Logger, type Transport } from "./core/ports.js";
import { FederationNode, type FederationOptions } from "./federation/federation-node.js";
import { MemoryJobLock, PgJobLock } from "./federation/jobs/job-lock.js";
import { JOB_NAMES } from "./federation/jobs/scheduler.js";
import { OfflineTransport } from "./federation/offline-transport.js";

export const WEB_ROOT = fileURLToPath(new URL("../web/", import.meta.url));

export interface AssembleOptions {
  config: BootConfig;
  logger: Logger;
  /** A name for logs (the demo's alpha and beta). */
  name?: string;
  /** Use this transport instead of the one the configuration describes (the demo's MemoryHub). */
  transport?: Transport;
  /** Simulated devices to attach (the demo); none by default. */
  devices?: readonly DeviceConfig[];
  /** Seed of the simulator's PRNG. */
  seed?: number;
  federation?: Partial<FederationOptions>;
}

export interface RelaisGateway {
  readonly name: string;
  readonly config: BootConfig;
  readonly db: Database;
  readonly stores: PgStores;
  readonly gateway: Gateway;
  readonly connectors: ConnectorManager;
  readonly federation: FederationNode;
  readonly transport: Transport;
  readonly http: HttpApp;
  /** The listening URL once started. */
  url: string | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The transport the configuration describes: XMPP when a service is set, otherwise offline. */
export function configuredTransport(config: BootConfig, logger: Logger): Transport {
  const jid = config.xmppJid ?? `relais@${config.xmppDomain ?? "localhost"}`;
  if (config.xmppService === null) return new OfflineTransport(jid);
  if (config.xmppPassword === null)
    throw new RelaisError(
      "RELAIS_ERR_CONFIG_INVALID",
      "RELAIS_XMPP_SERVICE is set: RELAIS_XMPP_PASSWORD is required",
      {
        problems: ["RELAIS_XMPP_PASSWORD is required with RELAIS_XMPP_SERVICE"],
      },
    );
  return new XmppTransport({
    service: config.xmppService,
    jid,
    password: config.xmppPassword,
    allowInsecure: config.xmppAllowInsecure,
    logger: logger.child({ component: "xmpp" }),
  });
}

/** Builds one gateway from the boot configuration. Nothing listens or runs until start(). */
export async function assemble(options: AssembleOptions): Promise<RelaisGateway> {
  const { config } = options;
  const logger = options.name ? options.logger.child({ gateway: options.name }) : options.logger;
  const clock = systemClock;

  const key = loadSecretKey(config, logger);
  const db = await openDatabase(config, logger, {
    waitForDatabase: {},
    onMigrated: (r) => {
      if (r.applied.length > 0) logger.info({ applied: r.applied }, "database migrated");
    },
  });
  // refuses to start when stored credentials were sealed with another key (RELIABILITY.md S8)
  const stores = await openStores(db, key.box, clock).catch(async (e: unknown) => {
    await db.close();
    throw e;
  });
  const gateway = new Gateway({
    clock,
    crypto: new NodeCrypto(),
    valueStore: stores.values,
    securityStore: stores.security,
    logger: logger.child({ component: "core" }),
    ...(config.adminToken !== null ? { bootstrapAdminToken: config.adminToken } : {}),
  });
  if (options.devices && options.devices.length > 0) {
    await gateway.registerConnector(
      new SimulatorConnector({
        devices: options.devices,
        scheduler: timerScheduler,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      }),
    );
  }
  const { manager } = await createConnectors({
    gateway,
    logger,
    clock,
    source: configStoreSource(stores.config),
    credentials: userAppCredentials(stores.userApps),
  });
  const transport = options.transport ?? configuredTransport(config, logger);
  const federation = new FederationNode({
    gateway,
    stores,
    transport,
    jobLock: config.databaseUrl !== null ? new PgJobLock(db) : new MemoryJobLock(),
    clock,
    logger: logger.child({ component: "federation" }),
    ...(options.federation ? { options: options.federation } : {}),
  });

  const probes: HealthProbe[] = [
    {
      name: "database",
      check: async () => {
        try {
          await db.query("SELECT 1");
          return { up: true };
        } catch (e) {
          return { up: false, detail: (e as Error).message };
        }
      },
    },
    connectorsProbe(manager),
  ];
  if (config.xmppService !== null || options.transport) {
    probes.push({
      name: "xmpp",
      check: () => ({ up: transport.state === "online", detail: `${transport.jid} ${transport.state}` }),
    });
  }
  const metricsRegistry = new Registry();
  registerConnectorMetrics(metricsRegistry, manager);
  const http = await buildHttpApp({
    metricsRegistry,
    gateway: coreNorthbound(gateway),
    admin: stores,
    jobs: { run: (name) => federation.runJob(name), names: JOB_NAMES },
    configHooks: {
      // connector documents are untrusted input: validated at the edge, every problem reported
      validate: (key, value) => {
        if (key.startsWith(CONNECTOR_KEY_PREFIX)) parseConnectorConfig(value);
      },
      changed: async (key) => {
        if (key.startsWith(CONNECTOR_KEY_PREFIX)) await manager.reload();
        else if (key.startsWith("federation.")) await federation.refresh();
      },
    },
    probes,
    queueDepth: () => federation.queueDepths(),
    xmppState: () => transport.state,
    senmlIngest: senmlIngestRoute(gateway),
    logger,
    adminToken: config.adminToken,
    webRoot: WEB_ROOT,
  });

  let started = false;
  let stopWatching: (() => void) | null = null;
  const node: RelaisGateway = {
    name: options.name ?? "relais",
    config,
    db,
    stores,
    gateway,
    connectors: manager,
    federation,
    transport,
    http,
    url: null,
    async start() {
      if (started) return;
      started = true;
      await gateway.start();
      await manager.start();
      // connector documents changed with `relais config set` or the admin API apply without a restart
      stopWatching = manager.watch(30_000);
      await federation.start();
      const { url } = await http.start({ host: config.httpHost, port: config.httpPort });
      node.url = url;
      logger.info({ url, jid: transport.jid, transport: transport.constructor.name }, "gateway started");
    },
    async stop() {
      if (!started) return;
      started = false;
      const step = async (what: string, f: () => Promise<void>): Promise<void> => {
        try {
          await f();
        } catch (e) {
          logger.error({ err: e, step: what }, "error while stopping");
        }
      };
      await step("http", () => http.stop({ drainMs: 3000 }));
      await step("federation", () => federation.stop());
      stopWatching?.();
      await step("connectors", () => manager.stop());
      await step("core", () => gateway.stop());
      await step("database", () => db.close());
      logger.info({}, "gateway stopped");
    },
  };
  return node;
}

/** Runs `work` until SIGINT/SIGTERM, then stops every gateway (bounded, R10: exit ≤ 10 s). */
export function stopOnSignals(gateways: readonly RelaisGateway[], logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, "stopping");
      const hard = setTimeout(() => {
        logger.error({}, "stop took longer than 9.5 s: exiting");
        process.exit(1);
      }, 9_500);
      hard.unref();
      void Promise.all(gateways.map((g) => g.stop())).finally(() => {
        clearTimeout(hard);
        resolve();
      });
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}
