import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { packRecords, xmlTextBytes } from "./pack.js";
import { recordsFromBody, type FederatedRecord } from "./records.js";

const T = 1_700_000_000_123;
const rec = (i: number, value: unknown = i * 1.5, unit?: string): FederatedRecord => ({
  provider: `meter-${i % 7}`,
  service: "power",
  resource: `r${i}`,
  value,
  timestamp: T + i * 250,
  ...(unit ? { unit } : {}),
});

const key = (r: FederatedRecord) => `${r.provider}/${r.service}/${r.resource}@${r.timestamp}`;

describe("packRecords / recordsFromBody", () => {
  it("round-trips values, units and millisecond times through a compact pack", () => {
    const records = [rec(1, 312.5, "W"), rec(2, "on"), rec(3, true), rec(4, { a: 1 }), rec(5, -0.001)];
    const packs = packRecords(records);
    expect(packs).toHaveLength(1);
    const back = recordsFromBody(packs[0]!.body, T);
    const byKey = new Map(back.map((r) => [key(r), r]));
    for (const r of records) {
      const b = byKey.get(key(r));
      expect(b, key(r)).toBeDefined();
      expect(b!.value).toEqual(typeof r.value === "object" ? JSON.stringify(r.value) : r.value);
      expect(b!.unit).toBe(r.unit);
    }
    // compact: one bt, base names per run, not a full name per record
    expect(packs[0]!.body.match(/"bt"/g)).toHaveLength(1);
  });

  it("splits under the limit and loses or duplicates nothing", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1500, max: 20_000 }), (n, limit) => {
        const records = Array.from({ length: n }, (_, i) => rec(i, "x".repeat(i % 50) + "&<"));
        const packs = packRecords(records, limit);
        const seen: string[] = [];
        for (const p of packs) {
          expect(p.oversize).toBe(false);
          expect(xmlTextBytes(p.body) + 1024).toBeLessThanOrEqual(limit);
          const back = recordsFromBody(p.body, T);
          expect(back).toHaveLength(p.records);
          seen.push(...back.map(key));
        }
        expect(seen.sort()).toEqual(records.map(key).sort());
      }),
      { numRuns: 60 },
    );
  });

  it("flags a record larger than the limit instead of dropping it", () => {
    const packs = packRecords([rec(1, "y".repeat(5000)), rec(2)], 2048);
    expect(packs.map((p) => p.oversize)).toEqual([true, false]);
  });

  it("rejects bodies that are not provider/service/resource packs with a code and pointer", () => {
    for (const bad of ["nope", "[]x", '[{"n":"a/b","v":1}]', '[{"n":"a/b/c"}]', '{"n":"a/b/c","v":1}']) {
      expect(() => recordsFromBody(bad, T)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_FED_BAD_PACK" }),
      );
    }
    expect(recordsFromBody('[{"n":"a/b/c","v":1,"t":-1}]', T)[0]!.timestamp).toBe(T - 1000);
  });
});
