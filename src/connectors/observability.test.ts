import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { connectorsProbe, registerConnectorMetrics } from "./observability.js";
import type { ConnectorStatus } from "./ports.js";

const statuses: ConnectorStatus[] = [
  {
    name: "a",
    kind: "http",
    state: "up",
    lastError: null,
    counters: { polls: 3, pollFailures: 0 },
    lastSuccessAt: 1_700_000_000_000,
  },
  {
    name: "b",
    kind: "mqtt",
    state: "down",
    lastError: { code: "RELAIS_ERR_CONNECTOR_UNREACHABLE", message: "x", at: 1 },
    counters: { messages: 0, reconnects: 2 },
    lastSuccessAt: null,
  },
];
const source = { status: () => statuses };

describe("connector observability", () => {
  it("reports connectors in the readiness detail; fails readiness only when asked to", () => {
    expect(connectorsProbe(source).check()).toEqual({
      up: true,
      detail: "a=up, b=down(RELAIS_ERR_CONNECTOR_UNREACHABLE)",
    });
    expect(connectorsProbe(source, { failWhenDown: true }).check().up).toBe(false);
  });

  it("exposes counters, state and last success as Prometheus metrics", async () => {
    const registry = new Registry();
    registerConnectorMetrics(registry, source);
    registerConnectorMetrics(registry, source); // idempotent
    const text = await registry.metrics();
    expect(text).toContain('relais_connector_events_total{connector="a",kind="http",event="polls"} 3');
    expect(text).toContain('relais_connector_events_total{connector="b",kind="mqtt",event="reconnects"} 2');
    expect(text).toContain('relais_connector_state{connector="b",kind="mqtt",state="down"} 1');
    expect(text).toContain('relais_connector_state{connector="a",kind="http",state="down"} 0');
    expect(text).toContain('relais_connector_last_success_seconds{connector="a",kind="http"} 1700000000');
  });
});
