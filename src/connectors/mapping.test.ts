import { describe, expect, it } from "vitest";
import { coerce, compileMapping, parsePointer, toMillis } from "./mapping.js";

async function run(entries: unknown, doc: unknown, vars: Record<string, string> = {}) {
  const r = compileMapping(entries, "/mapping");
  if (!r.mapping) throw new Error(JSON.stringify(r.problems));
  return r.mapping.evaluate(doc, vars);
}

describe("JSON pointer (RFC 6901)", () => {
  it("splits and unescapes tokens", () => {
    expect(parsePointer("")).toEqual([]);
    expect(parsePointer("/a~1b/~0c/0")).toEqual(["a/b", "~c", "0"]);
    expect(() => parsePointer("a")).toThrow();
    expect(() => parsePointer("/a~2")).toThrow();
  });
  it("maps pointers to updates with types, units, kinds and timestamps", async () => {
    const doc = { data: { "t/x": 21.5, on: "true", n: "7", ts: 1_700_000_000 }, list: [1, 2] };
    const r = await run(
      [
        { target: "p/s/temp", pointer: "/data/t~1x", unit: "Cel", timestamp: { pointer: "/data/ts" } },
        { target: "p/s/on", pointer: "/data/on", type: "boolean", kind: "STATE_VARIABLE" },
        { target: "p/s/n", pointer: "/data/n", type: "integer" },
        { target: "p/s/second", pointer: "/list/1" },
      ],
      doc,
    );
    expect(r.errors).toEqual([]);
    expect(r.updates).toEqual([
      {
        provider: "p",
        service: "s",
        resource: "temp",
        value: 21.5,
        valueType: "float",
        metadata: { unit: "Cel" },
        timestamp: 1_700_000_000_000,
      },
      {
        provider: "p",
        service: "s",
        resource: "on",
        value: true,
        valueType: "boolean",
        kind: "STATE_VARIABLE",
      },
      { provider: "p", service: "s", resource: "n", value: 7, valueType: "integer" },
      { provider: "p", service: "s", resource: "second", value: 2, valueType: "float" },
    ]);
  });
});

describe("mapping engine", () => {
  it("evaluates JSONata expressions and records lists", async () => {
    const doc = {
      devices: [
        { id: "d1", t: 20 },
        { id: "d2", t: 22 },
      ],
    };
    const r = await run(
      [
        { target: "agg/stats/mean", expression: "$average(devices.t)" },
        { records: 'devices.{"target": id & "/env/temperature", "value": t, "unit": "Cel"}' },
      ],
      doc,
    );
    expect(r.errors).toEqual([]);
    expect(r.updates.map((u) => [u.provider, u.resource, u.value, u.metadata])).toEqual([
      ["agg", "mean", 21, undefined],
      ["d1", "temperature", 20, { unit: "Cel" }],
      ["d2", "temperature", 22, { unit: "Cel" }],
    ]);
  });

  it("fills wildcard placeholders in targets and exposes $topic to JSONata", async () => {
    const r = await run(
      [{ target: "{1}/env/{2}", expression: "$topic" }],
      {},
      { "1": "dev", "2": "t", topic: "a/b" },
    );
    expect(r.updates[0]).toMatchObject({ provider: "dev", service: "env", resource: "t", value: "a/b" });
  });

  it("turns a missing value or a wrong type into a coded mapping error, other entries still map", async () => {
    const r = await run(
      [
        { target: "p/s/a", pointer: "/missing" },
        { target: "p/s/b", pointer: "/text", type: "float" },
        { target: "p/s/c", pointer: "/missing", optional: true },
        { target: "p/s/d", pointer: "/ok" },
        { records: "items" },
      ],
      { text: "abc", ok: 1, items: [{ value: 1 }, 5] },
    );
    expect(r.updates.map((u) => u.resource)).toEqual(["d"]);
    expect(r.errors.map((e) => [e.target, e.code])).toEqual([
      ["p/s/a", "RELAIS_ERR_CONNECTOR_MAPPING_FAILED"],
      ["p/s/b", "RELAIS_ERR_CONNECTOR_MAPPING_FAILED"],
      ["records[4][0]", "RELAIS_ERR_CONNECTOR_MAPPING_FAILED"],
      ["records[4][1]", "RELAIS_ERR_CONNECTOR_MAPPING_FAILED"],
    ]);
  });

  it("a JSONata runtime error is a mapping error, not an exception", async () => {
    const r = await run([{ target: "p/s/r", expression: '$number("x") + $undefinedFn()' }], {});
    expect(r.updates).toEqual([]);
    expect(r.errors[0]?.code).toBe("RELAIS_ERR_CONNECTOR_MAPPING_FAILED");
  });

  it("reports every compile problem with its path", () => {
    const r = compileMapping(
      [
        { target: "p/s", pointer: "/a" },
        { target: "p/s/r", pointer: "a" },
        { target: "p/s/r", expression: "(((" },
        { target: "p/s/r", pointer: "/a", expression: "a" },
        { target: "p/s/{x}", pointer: "/a", type: "double", bogus: 1 },
      ],
      "/mapping",
    );
    expect(r.mapping).toBeNull();
    expect(r.problems.map((p) => p.path)).toEqual([
      "/mapping/0/target",
      "/mapping/1/pointer",
      "/mapping/2/expression",
      "/mapping/3",
      "/mapping/4/bogus",
      "/mapping/4/type",
      "/mapping/4/target",
    ]);
    expect(compileMapping([], "/m").problems).toHaveLength(1);
  });

  it("coerces and converts timestamps", () => {
    expect(coerce("1.5", "float")).toBe(1.5);
    expect(() => coerce("x", "float")).toThrow();
    expect(() => coerce(1.5, "integer")).toThrow();
    expect(coerce(0, "boolean")).toBe(false);
    expect(coerce(3, "string")).toBe("3");
    expect(() => coerce({}, "string")).toThrow();
    expect(toMillis(1_700_000_000)).toBe(1_700_000_000_000);
    expect(toMillis(1_700_000_000_123)).toBe(1_700_000_000_123);
    expect(toMillis("2024-01-01T00:00:00Z")).toBe(1_704_067_200_000);
    expect(() => toMillis("yesterday")).toThrow();
  });
});
