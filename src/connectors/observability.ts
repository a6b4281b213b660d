/**
 * /health/ready and /metrics views of the connectors, shaped for the HTTP layer's ports
 * (HealthProbe {name, check()}, a prom-client Registry) without importing the HTTP adapter.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { ConnectorState, ConnectorStatus } from "./ports.js";

export interface ConnectorStatusSource {
  status(): ConnectorStatus[];
}

/**
 * One readiness component "connectors". CONTRACTS.md §3 ties readiness to the database and XMPP
 * only, so by default a down local system is reported in `detail` but keeps the gateway ready;
 * `failWhenDown: true` makes any enabled connector that is down fail readiness.
 */
export function connectorsProbe(
  source: ConnectorStatusSource,
  options: { failWhenDown?: boolean; name?: string } = {},
): { name: string; check(): { up: boolean; detail: string } } {
  return {
    name: options.name ?? "connectors",
    check() {
      const list = source.status();
      const down = list.filter((s) => s.state === "down");
      const parts = list.map(
        (s) => `${s.name}=${s.state}${s.lastError && s.state !== "up" ? `(${s.lastError.code})` : ""}`,
      );
      return {
        up: !(options.failWhenDown === true && down.length > 0),
        detail: parts.join(", ") || "none configured",
      };
    },
  };
}

const STATES: readonly ConnectorState[] = ["starting", "up", "degraded", "down", "stopped"];

/**
 * Registers, read at scrape time:
 *   relais_connector_events_total{connector,kind,event}  every counter of every connector
 *   relais_connector_state{connector,kind,state}         1 for the current state, 0 otherwise
 *   relais_connector_last_success_seconds{connector,kind} time of the last successful ingest
 */
export function registerConnectorMetrics(registry: Registry, source: ConnectorStatusSource): void {
  if (registry.getSingleMetric("relais_connector_events_total")) return;
  new Counter({
    name: "relais_connector_events_total",
    help: "Connector events (polls, messages, updates, errors…) by connector, kind and event",
    labelNames: ["connector", "kind", "event"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.status())
        for (const [event, value] of Object.entries(s.counters))
          if (value > 0) this.inc({ connector: s.name, kind: s.kind, event }, value);
    },
  });
  new Gauge({
    name: "relais_connector_state",
    help: "Connector state (1 for the current one): starting, up, degraded, down, stopped",
    labelNames: ["connector", "kind", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.status())
        for (const state of STATES)
          this.set({ connector: s.name, kind: s.kind, state }, s.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: "relais_connector_last_success_seconds",
    help: "Unix time of the connector's last successful ingest",
    labelNames: ["connector", "kind"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.status())
        if (s.lastSuccessAt !== null) this.set({ connector: s.name, kind: s.kind }, s.lastSuccessAt / 1000);
    },
  });
}
