import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { HttpMetrics } from "./metrics.js";

function line(text: string, prefix: string): string | undefined {
  return text.split("\n").find((l) => l.startsWith(prefix));
}

describe("HttpMetrics", () => {
  it("shows requests and durations counted on the hot path, once each, at every scrape", async () => {
    const registry = new Registry();
    const m = new HttpMetrics(registry);
    m.observeRequest("GET", "/a", 200, 0.0004);
    m.observeRequest("GET", "/a", 200, 0.003);
    m.observeRequest("GET", "/a", 404, 7);
    m.observeAccess("GET", 200);
    m.observeAccess("GET", 200);
    let text = await registry.metrics();
    expect(line(text, 'relais_http_requests_total{method="GET",route="/a",status="200"}')).toMatch(/ 2$/);
    expect(line(text, 'relais_http_requests_total{method="GET",route="/a",status="404"}')).toMatch(/ 1$/);
    expect(
      line(text, 'relais_http_request_duration_seconds_bucket{method="GET",route="/a",le="0.001"}'),
    ).toMatch(/ 1$/);
    expect(
      line(text, 'relais_http_request_duration_seconds_bucket{method="GET",route="/a",le="0.005"}'),
    ).toMatch(/ 2$/);
    expect(
      line(text, 'relais_http_request_duration_seconds_bucket{method="GET",route="/a",le="2.5"}'),
    ).toMatch(/ 2$/);
    expect(
      line(text, 'relais_http_request_duration_seconds_bucket{method="GET",route="/a",le="+Inf"}'),
    ).toMatch(/ 3$/);
    expect(line(text, 'relais_http_request_duration_seconds_count{method="GET",route="/a"}')).toMatch(/ 3$/);
    expect(Number(line(text, "relais_http_request_duration_seconds_sum")?.split(" ")[1])).toBeCloseTo(
      7.0034,
      6,
    );
    expect(line(text, 'relais_http_access_methods_total{method="GET",status="200"}')).toMatch(/ 2$/);
    expect(text).toContain("# TYPE relais_http_request_duration_seconds histogram");

    // A second scrape: counters stay cumulative, nothing counted twice.
    m.observeRequest("GET", "/a", 200, 0.0001);
    m.observeAccess("GET", 200);
    text = await registry.metrics();
    expect(line(text, 'relais_http_requests_total{method="GET",route="/a",status="200"}')).toMatch(/ 3$/);
    expect(line(text, 'relais_http_request_duration_seconds_count{method="GET",route="/a"}')).toMatch(/ 4$/);
    expect(line(text, 'relais_http_access_methods_total{method="GET",status="200"}')).toMatch(/ 3$/);
    text = await registry.metrics();
    expect(line(text, 'relais_http_requests_total{method="GET",route="/a",status="200"}')).toMatch(/ 3$/);
  });

  it("shares its series with a second HttpMetrics on the same registry", async () => {
    const registry = new Registry();
    const a = new HttpMetrics(registry);
    const b = new HttpMetrics(registry);
    a.observeRequest("GET", "/x", 200, 0.01);
    b.observeRequest("GET", "/x", 200, 0.01);
    a.observeAccess("SET", 200);
    b.observeAccess("SET", 200);
    const text = await registry.metrics();
    expect(line(text, 'relais_http_access_methods_total{method="SET",status="200"}')).toMatch(/ 2$/);
    expect(line(text, 'relais_http_requests_total{method="GET",route="/x",status="200"}')).toMatch(/ 2$/);
  });

  it("exports the federation counters at scrape time as relais_federation_events_total{event}", async () => {
    const registry = new Registry();
    const counters = { sent: 3, deadLettered: 1, recordsApplied: 0 };
    new HttpMetrics(registry, { federationCounters: () => counters });
    let text = await registry.metrics();
    expect(line(text, 'relais_federation_events_total{event="sent"}')).toMatch(/ 3$/);
    expect(line(text, 'relais_federation_events_total{event="dead_lettered"}')).toMatch(/ 1$/);
    expect(line(text, 'relais_federation_events_total{event="records_applied"}')).toMatch(/ 0$/);
    counters.sent = 10;
    text = await registry.metrics();
    expect(line(text, 'relais_federation_events_total{event="sent"}')).toMatch(/ 10$/);
  });
});
