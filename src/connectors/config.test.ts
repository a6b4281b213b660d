import { describe, expect, it } from "vitest";
import type { RelaisError } from "../core/errors.js";
import { parseConnectorConfig } from "./config.js";

function problems(doc: unknown): string[] {
  try {
    parseConnectorConfig(doc);
  } catch (e) {
    const err = e as RelaisError;
    expect(err.code).toBe("RELAIS_ERR_CONNECTOR_CONFIG_INVALID");
    return (err.details.problems as { path: string }[]).map((p) => p.path);
  }
  return [];
}

describe("connector configuration", () => {
  it("accepts a minimal HTTP document and fills the defaults", () => {
    const cfg = parseConnectorConfig({
      kind: "http",
      name: "weather",
      options: { url: "http://127.0.0.1:8081/api", allowHosts: ["127.0.0.1:8081"] },
      schedule: { cron: "*/30 * * * * *" },
      mapping: [{ target: "weather/env/temperature", pointer: "/t" }],
    });
    expect(cfg).toMatchObject({
      kind: "http",
      enabled: true,
      options: { method: "GET", timeoutMs: 5000, retries: 2, conditional: true },
      schedule: { cron: "*/30 * * * * *" },
      commands: [],
    });
  });

  it("accepts an MQTT document with a stable client id and a persistent session by default", () => {
    const cfg = parseConnectorConfig({
      kind: "mqtt",
      name: "plant",
      options: { url: "mqtt://127.0.0.1:1883", allowHosts: ["127.0.0.1"] },
      mapping: [{ topic: "plant/+/t", target: "{1}/env/t" }],
      commands: [
        {
          target: "valve/ctl/open",
          on: "ACT",
          topic: "plant/valve/cmd",
          parameters: [{ name: "pct", type: "integer" }],
        },
      ],
    });
    expect(cfg).toMatchObject({
      options: { clientId: "relais-plant", clean: false, qos: 1 },
      mapping: [{ format: "plain" }],
      commands: [{ qos: 1, retain: false, parameters: [{ name: "pct", type: "integer" }] }],
    });
  });

  it("reports every problem at once, each with its path", () => {
    expect(
      problems({
        kind: "http",
        name: "bad name!",
        extra: 1,
        options: { url: "ftp://x", allowHosts: [], timeoutMs: 5, auth: { scheme: "magic" } },
        schedule: { everyMs: 1000, cron: "* * * * *" },
        mapping: [{ target: "a/b", pointer: "x" }],
        commands: [{ target: "a/b/c", on: "GET", url: "http://u:p@h/" }],
      }),
    ).toEqual([
      "/name",
      "/extra",
      "/options/url",
      "/options/allowHosts",
      "/options/timeoutMs",
      "/options/auth/credentials",
      "/options/auth/scheme",
      "/schedule",
      "/mapping/0/target",
      "/commands/0/url",
      "/commands/0/on",
    ]);
    expect(
      problems({
        kind: "mqtt",
        name: "m",
        options: { url: "http://broker", allowHosts: ["broker"], qos: 3 },
        mapping: [
          { topic: "a/#/b", target: "x/y/z" },
          { topic: "a", format: "json" },
          { topic: "b", format: "xml" },
        ],
        commands: [{ target: "x/y/z", on: "SET", topic: "cmd/+" }],
      }),
    ).toEqual([
      "/options/url",
      "/options/qos",
      "/mapping/0/topic",
      "/mapping/1/values",
      "/mapping/2/format",
      "/commands/0/topic",
    ]);
    expect(problems(null)).toEqual([""]);
    expect(problems({ kind: "ftp", name: "x" })).toEqual(["/kind"]);
  });
});
