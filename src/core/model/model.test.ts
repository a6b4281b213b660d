import { describe, expect, it } from "vitest";
import { FakeClock } from "../testing/fakes.js";
import { ResourceModel } from "./model.js";
import { assertName, formatPath, isValidName, parsePath } from "./names.js";
import type { ModelEvent } from "./types.js";
import { inferType, matchesType } from "./value-types.js";

describe("names and paths", () => {
  it("accepts the SenML charset without '/' and rejects the rest", () => {
    for (const ok of ["meter-12", "a", "A.b_c:d-e", "0x1", "x".repeat(64)])
      expect(isValidName(ok), ok).toBe(true);
    for (const bad of ["", "-a", ".a", "a/b", "a b", "é", "x".repeat(65), "a*"])
      expect(isValidName(bad), bad).toBe(false);
    expect(() => {
      assertName("a b");
    }).toThrow(expect.objectContaining({ code: "RELAIS_ERR_MODEL_INVALID_NAME" }));
  });
  it("parses and formats paths", () => {
    expect(parsePath("/")).toEqual({});
    expect(parsePath("/p/s/r")).toEqual({ provider: "p", service: "s", resource: "r" });
    expect(parsePath("p/s")).toEqual({ provider: "p", service: "s" });
    expect(() => parsePath("/a/b/c/d")).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_MODEL_INVALID_PATH" }),
    );
    expect(() => parsePath("/a//c")).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_MODEL_INVALID_NAME" }),
    );
    expect(formatPath("p", "s", "r")).toBe("/p/s/r");
    expect(formatPath()).toBe("/");
  });
});

describe("value types", () => {
  it("checks every type", () => {
    const cases: [Parameters<typeof matchesType>[0], unknown[], unknown[]][] = [
      ["boolean", [true, false], [0, "true"]],
      ["integer", [0, -3, 2 ** 40], [1.5, "1", Number.NaN]],
      ["float", [1.5, 0, -2], [Infinity, "1.5", true]],
      ["string", ["", "x"], [1, {}]],
      ["object", [{ a: [1, { b: null }] }, [1, 2], "s", 1], [{ a: undefined }, () => 1]],
      ["binary", ["", "aGVsbG8=", "AAEC"], ["%%%", "abc"]],
      ["timestamp", [0, 1_700_000_000_000], [-1, 1.5, "2024"]],
      [
        "geojson",
        [
          { type: "Point", coordinates: [5.7, 45.2] },
          { type: "Polygon", coordinates: [] },
        ],
        [{ type: "Point", coordinates: [1] }, { type: "Circle" }, [1, 2]],
      ],
    ];
    for (const [t, good, bad] of cases) {
      for (const v of good) expect(matchesType(t, v), `${t} ${JSON.stringify(v)}`).toBe(true);
      for (const v of bad) expect(matchesType(t, v), `${t} ${String(v)}`).toBe(false);
      expect(matchesType(t, null)).toBe(true);
    }
  });
  it("infers types for data-first creation", () => {
    expect(inferType(1)).toBe("float");
    expect(inferType(true)).toBe("boolean");
    expect(inferType("x")).toBe("string");
    expect(inferType({ type: "Point", coordinates: [1, 2] })).toBe("geojson");
    expect(inferType({ a: 1 })).toBe("object");
  });
});

describe("ResourceModel", () => {
  it("emits lifecycle, data and metadata events and honours timestamps", () => {
    const clock = new FakeClock(1000);
    const events: ModelEvent[] = [];
    const m = new ResourceModel(clock, (e) => events.push(e));
    const node = m.ensureResource("p", "s", {
      name: "r",
      kind: "SENSOR",
      valueType: "float",
      metadata: { unit: "W" },
    });
    expect(
      events
        .filter((e) => e.kind === "LIFECYCLE")
        .map((e) => (e.kind === "LIFECYCLE" ? e.action + " " + e.uri : "")),
    ).toEqual([
      "PROVIDER_CREATED /p",
      "SERVICE_CREATED /p/admin",
      "RESOURCE_CREATED /p/admin/friendlyName",
      "RESOURCE_CREATED /p/admin/description",
      "RESOURCE_CREATED /p/admin/location",
      "SERVICE_CREATED /p/s",
      "RESOURCE_CREATED /p/s/r",
    ]);
    expect(events.at(-1)).toMatchObject({ kind: "METADATA", name: "unit", newValue: "W", timestamp: 1000 });
    events.length = 0;
    expect(m.update(node, 1, 2000)).toBe("updated");
    expect(m.update(node, 2, 1999)).toBe("stale");
    expect(m.update(node, 3, 2000)).toBe("updated");
    expect(events).toEqual([
      expect.objectContaining({
        kind: "DATA",
        oldValue: null,
        oldTimestamp: null,
        newValue: 1,
        timestamp: 2000,
      }),
      expect.objectContaining({ kind: "DATA", oldValue: 1, newValue: 3 }),
    ]);
    expect(() => m.update(node, "x", 3000)).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_ACCESS_TYPE_MISMATCH" }),
    );
    expect(m.setMetadata(node, "unit", "kW", 500)).toBe("stale");
    expect(node.metadata.get("unit")).toEqual({ value: "W", timestamp: 1000 });
    expect(m.size).toBe(4);
  });
  it("refuses conflicting re-declarations and freezes object values", () => {
    const m = new ResourceModel(new FakeClock());
    m.ensureResource("p", "s", { name: "r", kind: "SENSOR", valueType: "float" });
    expect(() => m.ensureResource("p", "s", { name: "r", kind: "PROPERTY", valueType: "float" })).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_MODEL_CONFLICT" }),
    );
    const o = m.ensureResource("p", "s", { name: "o", kind: "SENSOR", valueType: "object" });
    const value = { nested: { a: 1 } };
    m.update(o, value, 1);
    expect(Object.isFrozen(value.nested)).toBe(true);
  });
  it("removes branches with lifecycle events, children first", () => {
    const events: string[] = [];
    const m = new ResourceModel(new FakeClock(), (e) => {
      if (e.kind === "LIFECYCLE" && e.action.endsWith("REMOVED")) events.push(`${e.action} ${e.uri}`);
    });
    const r = m.ensureResource("p", "s", { name: "r", kind: "SENSOR", valueType: "float" });
    expect(m.resourceAt("/p/s/r")).toBe(r);
    expect(m.size).toBe(4); // r and the admin service's three
    expect(m.remove("p", "s")).toBe(true);
    expect(m.resourceAt("/p/s/r")).toBeUndefined();
    expect(events).toEqual(["RESOURCE_REMOVED /p/s/r", "SERVICE_REMOVED /p/s"]);
    expect(m.remove("p", "s")).toBe(false);
    expect(m.remove("p")).toBe(true);
    expect(m.providerNames()).toEqual([]);
    expect(m.size).toBe(0);
  });
});
