import { describe, expect, it } from "vitest";
import { matches, parseConditions } from "./conditions.js";

describe("conditions", () => {
  it("evaluates each operator on numbers, strings and objects", () => {
    const t = (operator: string, operand: unknown, value: unknown, old: unknown = null) =>
      matches(parseConditions([{ operator, operand }]), value, old);
    expect(t("=", 3, 3)).toBe(true);
    expect(t("=", { a: 1 }, { a: 1 })).toBe(true);
    expect(t("!=", 3, 3)).toBe(false);
    expect(t("<", 3, 2)).toBe(true);
    expect(t("<", 3, 3)).toBe(false);
    expect(t("<=", 3, 3)).toBe(true);
    expect(t(">", "b", "c")).toBe(true);
    expect(t(">=", 3, 2)).toBe(false);
    expect(t(">", 3, "4")).toBe(false); // incomparable types never match
    expect(t("changed", undefined, 1, 1)).toBe(false);
    expect(t("changed", undefined, { a: 1 }, { a: 2 })).toBe(true);
  });
  it("ANDs several conditions", () => {
    const c = parseConditions([
      { operator: ">", operand: 10 },
      { operator: "<", operand: 20 },
    ]);
    expect([5, 15, 25].filter((v) => matches(c, v, null))).toEqual([15]);
    expect(parseConditions(undefined)).toEqual([]);
  });
  it("rejects malformed conditions with BAD_CONDITION", () => {
    for (const raw of [
      {},
      [null],
      [{ operator: "like", operand: 1 }],
      [{ operator: "=" }],
      [{ operator: "<", operand: [1] }],
    ]) {
      expect(() => parseConditions(raw), JSON.stringify(raw)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_ACCESS_BAD_CONDITION" }),
      );
    }
  });
});
