/** Rejections: each a RelaisError with a SENML code and a JSON pointer to the offending field. */
import { describe, expect, it } from "vitest";
import { RelaisError } from "../core/errors.js";
import { encodeCbor, parseCbor, parseJson, resolve } from "./index.js";

function rejection(fn: () => unknown): RelaisError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RelaisError);
    return e as RelaisError;
  }
  throw new Error("expected a RelaisError");
}

const NOW = 1_700_000_000;

describe("validation (RFC 8428 §4, §5)", () => {
  it.each([
    ["not json", "RELAIS_ERR_SENML_SYNTAX", ""],
    [`{"n":"a","v":1}`, "RELAIS_ERR_SENML_NOT_A_PACK", ""],
    [`[]`, "RELAIS_ERR_SENML_NOT_A_PACK", ""],
    [`[{"n":"a","v":1},1]`, "RELAIS_ERR_SENML_NOT_A_PACK", "/1"],
    [`[{"n":"a","v":"1"}]`, "RELAIS_ERR_SENML_FIELD_TYPE", "/0/v"],
    [`[{"n":"a","v":1e400}]`, "RELAIS_ERR_SENML_FIELD_TYPE", "/0/v"],
    [`[{"n":"a","v":1,"t":null}]`, "RELAIS_ERR_SENML_FIELD_TYPE", "/0/t"],
    [`[{"n":"a","vb":1}]`, "RELAIS_ERR_SENML_FIELD_TYPE", "/0/vb"],
    [`[{"n":"a","vs":"\\ud800"}]`, "RELAIS_ERR_SENML_FIELD_TYPE", "/0/vs"],
    [`[{"bver":1.5,"n":"a","v":1}]`, "RELAIS_ERR_SENML_FIELD_TYPE", "/0/bver"],
    [`[{"n":"a b","v":1}]`, "RELAIS_ERR_SENML_NAME", "/0/n"],
    [`[{"n":"-a","v":1}]`, "RELAIS_ERR_SENML_NAME", "/0/n"],
    [`[{"n":"é","v":1}]`, "RELAIS_ERR_SENML_NAME", "/0/n"],
    [`[{"bn":"_x/","n":"a","v":1}]`, "RELAIS_ERR_SENML_NAME", "/0/bn"],
    [`[{"bn":"x?","n":"a","v":1}]`, "RELAIS_ERR_SENML_NAME", "/0/bn"],
    [`[{"v":1}]`, "RELAIS_ERR_SENML_NAME", "/0"],
    [`[{"n":"a","v":1},{"n":"b"}]`, "RELAIS_ERR_SENML_NO_VALUE", "/1"],
    [`[{"n":"a","u":"W","t":1}]`, "RELAIS_ERR_SENML_NO_VALUE", "/0"],
    [`[{}]`, "RELAIS_ERR_SENML_NO_VALUE", "/0"],
    [`[{"n":"a","v":1},{"foo":1}]`, "RELAIS_ERR_SENML_NO_VALUE", "/1"],
    [`[{"bn":"x","bt":1e9}]`, "RELAIS_ERR_SENML_NO_VALUE", "/0"],
    [`[{"n":"a","v":1,"vs":"x"}]`, "RELAIS_ERR_SENML_MULTIPLE_VALUES", "/0"],
    [`[{"n":"a","vb":true,"vd":"AA"}]`, "RELAIS_ERR_SENML_MULTIPLE_VALUES", "/0"],
    [`[{"n":"a","v":1},{"n":"a","v":2,"foo_":1}]`, "RELAIS_ERR_SENML_MUST_UNDERSTAND", "/1/foo_"],
    [`[{"n":"a","v":1,"a/b~_":1}]`, "RELAIS_ERR_SENML_MUST_UNDERSTAND", "/0/a~1b~0_"],
    [`[{"bver":11,"n":"a","v":1}]`, "RELAIS_ERR_SENML_VERSION", "/0/bver"],
    [`[{"n":"a","v":1},{"bver":5,"n":"b","v":1}]`, "RELAIS_ERR_SENML_VERSION", "/1/bver"],
    [`[{"bver":5,"n":"a","v":1},{"bver":6,"n":"b","v":1}]`, "RELAIS_ERR_SENML_VERSION", "/1/bver"],
    [`[{"n":"a","vd":"aGkgCg=="}]`, "RELAIS_ERR_SENML_BASE64", "/0/vd"],
    [`[{"n":"a","vd":"a+b/"}]`, "RELAIS_ERR_SENML_BASE64", "/0/vd"],
    [`[{"n":"a","vd":"aGkgCh"}]`, "RELAIS_ERR_SENML_BASE64", "/0/vd"],
    [`[{"n":"a","vd":"abcde"}]`, "RELAIS_ERR_SENML_BASE64", "/0/vd"],
  ])("%s → %s at %j", (json, code, pointer) => {
    const e = rejection(() => parseJson(json));
    expect(e.code).toBe(code);
    expect(e.details.pointer).toBe(pointer);
    expect(e.status).toBe(400);
  });

  it("a too large input is rejected before parsing", () => {
    const e = rejection(() => parseJson(new TextEncoder().encode(`[{"n":"a","v":1}]`), { maxBytes: 10 }));
    expect(e.code).toBe("RELAIS_ERR_SENML_TOO_LARGE");
    expect(e.details.pointer).toBe("");
  });

  it("ignores unknown fields that do not end in _ (§4.4)", () => {
    expect(parseJson(`[{"n":"a","v":1,"foo":{"x":1},"constructor":{"p":1}}]`)).toEqual([{ n: "a", v: 1 }]);
    // "__proto__" ends in "_": a must-understand label, and nothing leaks into prototypes.
    expect(rejection(() => parseJson(`[{"n":"a","v":1,"__proto__":{"p":1}}]`)).code).toBe(
      "RELAIS_ERR_SENML_MUST_UNDERSTAND",
    );
    expect(({} as Record<string, unknown>).p).toBeUndefined();
  });

  it("accepts the name charset and bver 10 on every record", () => {
    const pack = parseJson(`[{"bver":10,"bn":"A-z:0./_","n":"x","v":1},{"bver":10,"n":"y","v":2}]`);
    expect(resolve(pack, { now: NOW }).map((r) => r.n)).toEqual(["A-z:0./_x", "A-z:0./_y"]);
    expect(resolve(pack, { now: NOW })[0]).not.toHaveProperty("bver");
  });
});

describe("resolution (RFC 8428 §4.6)", () => {
  it("bv + v, bs + s, a missing term is 0, no sum without s or bs", () => {
    const pack = parseJson(
      `[{"bn":"d/","bv":10,"bs":100,"n":"a","v":1,"s":2},{"n":"b","s":3},{"n":"c","v":-1},{"bs":0,"n":"e","vs":"x"}]`,
    );
    expect(resolve(pack, { now: NOW })).toEqual([
      { n: "d/a", v: 11, s: 102, t: NOW },
      { n: "d/b", v: 10, s: 103, t: NOW },
      { n: "d/c", v: 9, s: 100, t: NOW },
      { n: "d/e", vs: "x", s: 0, t: NOW },
    ]);
    expect(resolve(parseJson(`[{"n":"a","v":1}]`), { now: NOW })[0]).not.toHaveProperty("s");
  });

  it("a base value gives a value to a record without one, but never to vs/vb/vd records", () => {
    expect(resolve(parseJson(`[{"bn":"x","bv":5},{"n":"y"}]`), { now: NOW })).toEqual([
      { n: "xy", v: 5, t: NOW },
    ]);
    expect(resolve(parseJson(`[{"bv":5,"n":"y","vb":true}]`), { now: NOW })).toEqual([
      { n: "y", vb: true, t: NOW },
    ]);
  });

  it("u overrides bu; bu carries on", () => {
    const pack = parseJson(`[{"bu":"W","n":"a","v":1},{"n":"b","u":"Wh","v":2},{"n":"c","v":3}]`);
    expect(resolve(pack, { now: NOW }).map((r) => r.u)).toEqual(["W", "Wh", "W"]);
  });

  it("relative times against now, chronological, stable for equal times", () => {
    const pack = parseJson(
      `[{"n":"a","v":1,"t":-1},{"n":"b","v":2,"t":-2},{"n":"c","v":3,"t":-1},{"n":"d","v":4,"t":10},{"n":"e","v":5}]`,
    );
    expect(resolve(pack, { now: NOW }).map((r) => [r.n, r.t])).toEqual([
      ["b", NOW - 2],
      ["a", NOW - 1],
      ["c", NOW - 1],
      ["e", NOW],
      ["d", NOW + 10],
    ]);
  });

  it("2^28 is the first absolute time (§4.5.3)", () => {
    const limit = 2 ** 28;
    const pack = parseJson(`[{"n":"a","v":1,"t":${limit}},{"n":"b","v":1,"t":${limit - 1}}]`);
    expect(resolve(pack, { now: NOW }).map((r) => r.t)).toEqual([limit, NOW + limit - 1]);
  });

  it("a base + value overflow is a field error, not Infinity", () => {
    const e = rejection(() => resolve(parseJson(`[{"bv":1e308,"n":"a","v":1e308}]`), { now: NOW }));
    expect(e.code).toBe("RELAIS_ERR_SENML_FIELD_TYPE");
    expect(e.details.pointer).toBe("/0/v");
  });

  it("resolve checks hand-built packs too", () => {
    expect(rejection(() => resolve([{ n: "a" }], { now: NOW })).code).toBe("RELAIS_ERR_SENML_NO_VALUE");
    expect(rejection(() => resolve([{ n: "a b", v: 1 }], { now: NOW })).details.pointer).toBe("/0/n");
  });

  it("a bad first character from the base name points at that base name", () => {
    const e = rejection(() => parseJson(`[{"bn":"-"},{"n":"a","v":1}]`));
    expect(e.code).toBe("RELAIS_ERR_SENML_NAME");
    expect(e.details.pointer).toBe("/0/bn");
    expect(e.details.record).toBe(1);
    const empty = rejection(() => parseJson(`[{"bn":"","n":"a","v":1},{"v":2}]`));
    expect(empty.details.pointer).toBe("/1");
  });
});

describe("CBOR specifics (RFC 8428 §6)", () => {
  const cbor = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));

  it.each([
    ["ff", "RELAIS_ERR_SENML_SYNTAX", ""],
    ["8100", "RELAIS_ERR_SENML_NOT_A_PACK", "/0"],
    ["a10061 61".replace(/ /g, ""), "RELAIS_ERR_SENML_NOT_A_PACK", ""],
    // [{0:"a", 8:"AA"}]: vd must be a byte string in CBOR
    ["81a200616108624141", "RELAIS_ERR_SENML_FIELD_TYPE", "/0/vd"],
    // [{0:"a", "n":"b", 2:1}]: the same label twice
    ["81a3006161616e616202 01", "RELAIS_ERR_SENML_SYNTAX", "/0/n"],
    // [{0:"a", 2:NaN}]
    ["81a2006161 02f97e00", "RELAIS_ERR_SENML_FIELD_TYPE", "/0/v"],
    // [{0:"a", 2:1, "x_":1}]
    ["81a300616102016278 5f01", "RELAIS_ERR_SENML_MUST_UNDERSTAND", "/0/x_"],
  ])("%s → %s at %j", (hex, code, pointer) => {
    const e = rejection(() => parseCbor(cbor(hex.replace(/ /g, ""))));
    expect(e.code).toBe(code);
    expect(e.details.pointer).toBe(pointer);
  });

  it("ignores unknown integer labels and reads decimal fractions (tag 4) and big integers", () => {
    // [{0:"a", 99:1, 2:4([-2, 27315])}]
    expect(parseCbor(cbor("81a300616118630102c48221196ab3"))).toEqual([{ n: "a", v: 273.15 }]);
    const big = 2 ** 60;
    expect(parseCbor(encodeCbor([{ n: "a", v: big }]))).toEqual([{ n: "a", v: big }]);
  });
});
