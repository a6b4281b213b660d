/**
 * The composition root: the only module that builds concrete adapters (STYLE.md). `relais start`
 * assembles one gateway; `relais demo` assembles two in one process (src/cli/demo.ts).
 *
 * Start order: HTTP (so that /health/live answers at once and /health/ready says 503 with the
 * database down while it waits, RELIABILITY.md R6; every other route answers 503
 * RELAIS_ERR_HTTP_STARTING until the end of the start) → database (waited for, then migrated,
 * the credential key checked) → core Gateway (values loaded) → connectors → federation (rows left
 * in flight released, jobs scheduled). Stop runs in reverse and lets each part drain: HTTP
 * requests, the federation batch (in-flight rows back to pending), connectors, the write-behind of
 * current values, then the database. A stop during the start ends the wait for the database.
 */
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { loadSecretKey } from "./adapters/crypto/secret-box.js";
import { NodeCrypto } from "./adapters/crypto/node-crypto.js";
import { buildHttpApp, type HttpApp } from "./adapters/http/app.js";
import { coreNorthbound } from "./adapters/http/core-adapter.js";
import type { HealthProbe } from "./adapters/http/ports.js";
import type { Database } from "./adapters/postgres/database.js";
import { createDatabase, prepareDatabase } from "./adapters/postgres/open.js";
import { createPgStores, type PgStores } from "./adapters/postgres/pg-stores.js";
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
import { RelaisError, isRelaisError } from "./core/errors.js";
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
  // Not connected yet (a PostgreSQL pool connects on its first statement): start() waits for it.
  const db = await createDatabase(config, logger);
  const stores = createPgStores(db, key.box, clock);
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

  // Set by start(): the database is reachable, migrated and opened by the key; every part started.
  const phase = { database: "waiting for the database" as string | null, ready: false };
  const probes: HealthProbe[] = [
    {
      name: "database",
      check: async () => {
        if (phase.database !== null) return { up: false, detail: phase.database };
        try {
          await db.query("SELECT 1");
          return { up: true };
        } catch (e) {
          return { up: false, detail: (e as Error).message };
        }
      },
    },
    connectorsProbe(manager),
    { name: "gateway", check: () => (phase.ready ? { up: true } : { up: false, detail: "starting" }) },
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
    accepting: () => phase.ready,
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
    federationCounters: () => ({ ...federation.counters }),
    senmlIngest: senmlIngestRoute(gateway),
    logger,
    adminToken: config.adminToken,
    webRoot: WEB_ROOT,
  });

  let started = false;
  let stopWatching: (() => void) | null = null;
  let startup: AbortController | null = null;
  let starting: Promise<void> | null = null;

  /** Waits for the database (retrying while it is unreachable), migrates it, checks the key. */
  const openDatabaseWhenUp = async (signal: AbortSignal): Promise<void> => {
    for (;;) {
      await prepareDatabase(db, logger, {
        waitForDatabase: { signal, maxDelayMs: 2_000 },
        onWaiting: (e) => {
          phase.database = `waiting for the database: ${e.code}`;
        },
        onMigrated: (r) => {
          if (r.applied.length > 0) logger.info({ applied: r.applied }, "database migrated");
        },
      });
      try {
        // refuses to start when stored credentials were sealed with another key (RELIABILITY.md S8)
        await stores.userApps.verifyKey();
        return;
      } catch (e) {
        if (!isRelaisError(e) || !e.retryable || signal.aborted) throw e;
      }
    }
  };

  const startParts = async (signal: AbortSignal): Promise<void> => {
    const { url } = await http.start({ host: config.httpHost, port: config.httpPort });
    node.url = url;
    logger.info({ url }, "http listening; waiting for the database");
    await openDatabaseWhenUp(signal);
    phase.database = null;
    if (signal.aborted) return;
    await gateway.start();
    await manager.start();
    // connector documents changed with `relais config set` or the admin API apply without a restart
    stopWatching = manager.watch(30_000);
    await federation.start();
    phase.ready = true;
    logger.info({ url, jid: transport.jid, transport: transport.constructor.name }, "gateway started");
  };

  const stopParts = async (): Promise<void> => {
    phase.ready = false;
    const step = async (what: string, f: () => Promise<void>): Promise<void> => {
      try {
        await f();
      } catch (e) {
        logger.error({ err: e, step: what }, "error while stopping");
      }
    };
    await step("http", () => http.stop({ drainMs: 3000 }));
    node.url = null;
    await step("federation", () => federation.stop());
    stopWatching?.();
    stopWatching = null;
    await step("connectors", () => manager.stop());
    await step("core", () => gateway.stop());
    await step("database", () => db.close());
    logger.info({}, "gateway stopped");
  };

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
    /**
     * Resolves once every part runs, or when stop() ended the start; rejects when the start fails
     * for a reason waiting cannot fix (e.g. the wrong credential key), after stopping what it began.
     */
    async start() {
      if (started) return;
      started = true;
      const abort = new AbortController();
      startup = abort;
      starting = startParts(abort.signal);
      try {
        await starting;
      } catch (e) {
        if (abort.signal.aborted) return; // stop() ended the start: it stops the parts
        started = false;
        await stopParts();
        throw e;
      } finally {
        startup = null;
        starting = null;
      }
    },
    async stop() {
      if (!started) return;
      started = false;
      node.url = null;
      startup?.abort();
      await starting?.catch(() => undefined);
      await stopParts();
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
