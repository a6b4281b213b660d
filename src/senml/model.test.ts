/** Mapping helpers: provider/service/resource names, value fields, compact packs split under a limit. */
import { describe, expect, it } from "vitest";
import { RelaisError } from "../core/errors.js";
import {
  buildPack,
  encodeJson,
  packUpdates,
  parseJson,
  resolve,
  splitFullName,
  toUpdate,
  utf8Length,
  valueField,
  type SenmlUpdate,
} from "./index.js";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RelaisError);
    return (e as RelaisError).code;
  }
  return "none";
}

const T0 = 1_700_000_000_000;

describe("full names", () => {
  it("splits provider/service/resource", () => {
    expect(splitFullName("meter-12/power/active")).toEqual({
      provider: "meter-12",
      service: "power",
      resource: "active",
    });
  });

  it.each(["a/b", "a//c", "a/b/c/d", "", "/b/c", "a/b/"])("%j is not three non-empty segments", (name) => {
    try {
      splitFullName(name, 4);
      expect.unreachable();
    } catch (e) {
      expect((e as RelaisError).code).toBe("RELAIS_ERR_SENML_FULL_NAME");
      expect((e as RelaisError).details.pointer).toBe("/4/n");
    }
  });
});

describe("value fields", () => {
  it.each([
    ["boolean", true, { vb: true }],
    ["string", "on", { vs: "on" }],
    ["int", 3, { v: 3 }],
    ["double", 2.5, { v: 2.5 }],
    ["long", 10n, { v: 10 }],
    ["binary", new Uint8Array([1, 2]), { vd: new Uint8Array([1, 2]) }],
    ["bytes", "AQI", { vd: new Uint8Array([1, 2]) }],
    ["object", { a: [1, "x"] }, { vs: '{"a":[1,"x"]}' }],
    ["json", null, { vs: "null" }],
    [undefined, false, { vb: false }],
    [undefined, 7, { v: 7 }],
    [undefined, "x", { vs: "x" }],
    [undefined, { k: 1 }, { vs: '{"k":1}' }],
  ])("%s %s", (type, value, field) => {
    expect(valueField(value, type)).toEqual(field);
  });

  it.each([
    ["boolean", "true"],
    ["int", "3"],
    ["double", Number.NaN],
    ["string", 1],
    ["binary", "AA=="],
    ["geo:point", 1],
    ["object", undefined],
  ])("%s %j is a value type error", (type, value) => {
    expect(codeOf(() => valueField(value, type))).toBe("RELAIS_ERR_SENML_VALUE_TYPE");
  });
});

describe("packing updates", () => {
  const updates: SenmlUpdate[] = [
    { provider: "meter-12", service: "power", resource: "active", value: 312.5, timestamp: T0, unit: "W" },
    { provider: "meter-12", service: "power", resource: "reactive", value: 20, timestamp: T0, unit: "W" },
    {
      provider: "meter-12",
      service: "info",
      resource: "online",
      value: true,
      timestamp: T0 + 1000,
      unit: "/",
    },
  ];

  it("shares bn per provider/service run, bt, bu and relative t where shorter", () => {
    expect(encodeJson(buildPack(updates))).toBe(
      '[{"bn":"meter-12/power/","bt":1700000000,"bu":"W","n":"active","v":312.5},{"n":"reactive","v":20},' +
        '{"bn":"meter-12/info/","n":"online","u":"/","vb":true,"t":1}]',
    );
  });

  it("resolves back to the updates", () => {
    const back = resolve(buildPack(updates), { now: 0 }).map((r, i) => toUpdate(r, i));
    expect(back).toEqual(
      updates.map(({ provider, service, resource, value, timestamp, unit }) => ({
        provider,
        service,
        resource,
        value,
        timestamp,
        unit,
      })),
    );
  });

  it("splits under the byte limit; every pack resolves on its own", () => {
    const many: SenmlUpdate[] = Array.from({ length: 500 }, (_, i) => ({
      provider: `dev-${i % 7}`,
      service: i % 3 === 0 ? "env" : "power",
      resource: `r${i % 11}`,
      value: i % 5 === 0 ? `s${i}` : i * 0.25,
      timestamp: T0 + Math.floor(i / 4) * 1500 + (i % 4),
      ...(i % 2 === 0 ? { unit: "W" } : {}),
    }));
    const maxBytes = 2048;
    const packs = packUpdates(many, { maxBytes });
    expect(packs.length).toBeGreaterThan(5);
    for (const p of packs) expect(utf8Length(encodeJson(p))).toBeLessThanOrEqual(maxBytes);
    const back = packs.flatMap((p) => resolve(parseJson(encodeJson(p)), { now: 0 }).map((r) => toUpdate(r)));
    // resolve sorts by time within a pack; compare as sorted sets
    const key = (u: {
      provider: string;
      service: string;
      resource: string;
      timestamp: number;
      value: unknown;
    }) => `${u.timestamp}|${u.provider}/${u.service}/${u.resource}|${String(u.value)}`;
    expect(back.map(key).sort()).toEqual(many.map(key).sort());
    expect(back.length).toBe(many.length);
  });

  it("packs in a single pack when under the default 64 KiB", () => {
    expect(packUpdates(updates)).toHaveLength(1);
  });

  it("a record that cannot fit alone has its own error", () => {
    const big: SenmlUpdate = {
      provider: "p",
      service: "s",
      resource: "r",
      value: "x".repeat(1000),
      timestamp: T0,
    };
    try {
      packUpdates([updates[0]!, big], { maxBytes: 500 });
      expect.unreachable();
    } catch (e) {
      expect((e as RelaisError).code).toBe("RELAIS_ERR_SENML_RECORD_TOO_LARGE");
      expect((e as RelaisError).details.pointer).toBe("/1");
    }
  });

  it("rejects names, times and values it cannot express", () => {
    const u = updates[0]!;
    expect(codeOf(() => buildPack([{ ...u, provider: "a b" }]))).toBe("RELAIS_ERR_SENML_NAME");
    expect(codeOf(() => buildPack([{ ...u, service: "" }]))).toBe("RELAIS_ERR_SENML_FULL_NAME");
    expect(codeOf(() => buildPack([{ ...u, resource: "x/y" }]))).toBe("RELAIS_ERR_SENML_FULL_NAME");
    expect(codeOf(() => buildPack([{ ...u, timestamp: 1000 }]))).toBe("RELAIS_ERR_SENML_TIME");
    expect(codeOf(() => buildPack([{ ...u, timestamp: Number.NaN }]))).toBe("RELAIS_ERR_SENML_TIME");
    expect(codeOf(() => buildPack([{ ...u, type: "boolean" }]))).toBe("RELAIS_ERR_SENML_VALUE_TYPE");
    expect(codeOf(() => buildPack([]))).toBe("RELAIS_ERR_SENML_NOT_A_PACK");
  });
});
