/**
 * Public surface of the connectors for the composition root (src/main.ts) and the edges.
 *
 *   const { manager } = await createConnectors({ gateway, logger, clock,
 *     source: configStoreSource(stores.config), credentials: userAppCredentials(stores.userApps) });
 *   await manager.start();            // after gateway.start()
 *   manager.reload();                 // after `relais config set connector.<name> …`
 *   manager.status() / health() / counters()   // /health/ready, /metrics
 *   senmlIngestRoute(gateway)         // HttpDeps.senmlIngest
 */
import type { Gateway } from "../core/gateway.js";
import type { Clock, Logger } from "../core/ports.js";
import { GatewayBridge } from "./gateway-bridge.js";
import { ConnectorManager, type ConnectorFactory } from "./manager.js";
import type { ConnectorConfigSource, CredentialsResolver, LookupFn } from "./ports.js";
import { defaultSenmlDecode } from "./senml-codec.js";

export {
  ConnectorManager,
  canonicalJson,
  type ConnectorManagerOptions,
  type ReloadReport,
} from "./manager.js";
export { GatewayBridge, BRIDGE_ID } from "./gateway-bridge.js";
export {
  parseConnectorConfig,
  type ConnectorConfig,
  type HttpConnectorConfig,
  type MqttConnectorConfig,
} from "./config.js";
export { configStoreSource, userAppCredentials, CONNECTOR_KEY_PREFIX } from "./sources.js";
export { ingestSenml, senmlIngestRoute, type IngestResult } from "./senml-ingest/senml-ingest.js";
export { HttpConnector, type PollOutcome } from "./http/http-connector.js";
export { MqttConnector } from "./mqtt/mqtt-connector.js";
export { defaultSenmlDecode } from "./senml-codec.js";
export type * from "./ports.js";

export interface CreateConnectorsOptions {
  gateway: Gateway;
  logger: Logger;
  clock: Clock;
  /** The `config` table: configStoreSource(stores.config). */
  source?: ConnectorConfigSource;
  /** UserApp credentials: userAppCredentials(stores.userApps). */
  credentials?: CredentialsResolver;
  lookup?: LookupFn;
  factories?: Record<string, ConnectorFactory>;
  /** Id of the bridge in the Gateway's connector registry (default "connectors"). */
  bridgeId?: string;
}

/**
 * Registers the bridge with the Gateway and builds the manager. Call manager.start() once the
 * Gateway runs (and manager.stop() before gateway.stop()).
 */
export async function createConnectors(
  o: CreateConnectorsOptions,
): Promise<{ manager: ConnectorManager; bridge: GatewayBridge }> {
  const bridge = new GatewayBridge(o.gateway, o.bridgeId);
  await o.gateway.registerConnector(bridge);
  const manager = new ConnectorManager({
    sinkFor: (runAs) => bridge.sinkFor(runAs),
    declareCommands: (_name, decls) => {
      bridge.declareCommands(decls);
    },
    logger: o.logger.child({ component: "connectors" }),
    clock: o.clock,
    senml: defaultSenmlDecode,
    ...(o.source ? { source: o.source } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.lookup ? { lookup: o.lookup } : {}),
    ...(o.factories ? { factories: o.factories } : {}),
  });
  bridge.bind(manager);
  return { manager, bridge };
}
export { connectorsProbe, registerConnectorMetrics, type ConnectorStatusSource } from "./observability.js";
