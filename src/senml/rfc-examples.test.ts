/**
 * The examples of RFC 8428 §5.1 (JSON), §6 (CBOR) and §7 (XML), with the resolved records
 * written by hand from §4.6 (base fields applied, absolute chronological times, bver ≠ 10 kept).
 */
import { describe, expect, it } from "vitest";
import {
  encodeCbor,
  encodeJson,
  encodeXml,
  parseCbor,
  parseJson,
  parseXml,
  resolve,
  type ResolvedRecord,
  type SenmlPack,
} from "./index.js";

const NOW = 1_700_000_000;

/** Compare resolved records; times are sums of doubles, so within a microsecond. */
function expectResolved(actual: ResolvedRecord[], expected: ResolvedRecord[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    expect(a.t).toBeCloseTo(e.t, 6);
    expect({ ...a, t: 0 }).toEqual({ ...e, t: 0 });
  });
}

function roundTrips(pack: SenmlPack): void {
  expect(parseJson(encodeJson(pack))).toEqual(pack);
  expect(parseCbor(encodeCbor(pack))).toEqual(pack);
  expect(parseXml(encodeXml(pack))).toEqual(pack);
  // JSON → CBOR → XML → JSON
  const viaAll = parseJson(encodeJson(parseXml(encodeXml(parseCbor(encodeCbor(pack))))));
  expect(viaAll).toEqual(pack);
}

const DEV = "urn:dev:ow:10e2073a01080063";

// §5.1.1 Single Datapoint
const SINGLE = `[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]`;
// §5.1.2 Multiple Datapoints
const MULTI = `[
  {"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
  {"n":"current","u":"A","v":1.2}
]`;
// §5.1.2, second example: current at Tue Jun 8 18:01:16.001 UTC 2010 and the 5 seconds before
const MULTI_TIMED = `[
  {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,
   "bu":"A","bver":5,
   "n":"voltage","u":"V","v":120.1},
  {"n":"current","t":-5,"v":1.2},
  {"n":"current","t":-4,"v":1.3},
  {"n":"current","t":-3,"v":1.4},
  {"n":"current","t":-2,"v":1.5},
  {"n":"current","t":-1,"v":1.6},
  {"n":"current","v":1.7}
]`;
// §5.1.3 Multiple Measurements
const MEASUREMENTS = `[
  {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,"bu":"%RH","v":20},
  {"u":"lon","v":24.30621},
  {"u":"lat","v":60.07965},
  {"t":60,"v":20.3},
  {"u":"lon","t":60,"v":24.30622},
  {"u":"lat","t":60,"v":60.07965},
  {"t":120,"v":20.7},
  {"u":"lon","t":120,"v":24.30623},
  {"u":"lat","t":120,"v":60.07966},
  {"u":"%EL","t":150,"v":98},
  {"t":180,"v":21.2},
  {"u":"lon","t":180,"v":24.30628},
  {"u":"lat","t":180,"v":60.07967}
]`;
// §5.1.4 Resolved Data: the §5.1.3 example resolved
const RESOLVED_MEASUREMENTS: ResolvedRecord[] = [
  [0, "%RH", 20],
  [0, "lon", 24.30621],
  [0, "lat", 60.07965],
  [60, "%RH", 20.3],
  [60, "lon", 24.30622],
  [60, "lat", 60.07965],
  [120, "%RH", 20.7],
  [120, "lon", 24.30623],
  [120, "lat", 60.07966],
  [150, "%EL", 98],
  [180, "%RH", 21.2],
  [180, "lon", 24.30628],
  [180, "lat", 60.07967],
].map(([dt, u, v]) => ({ n: DEV, u: u as string, t: 1320067464 + (dt as number), v: v as number }));
// §5.1.5 Multiple Data Types
const TYPES = `[
  {"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
  {"n":"label","vs":"Machine Room"},
  {"n":"open","vb":false},
  {"n":"nfc-reader","vd":"aGkgCg"}
]`;
// §5.1.6 Collection of Resources: the 4th record keeps the bn of the 3rd and the bt of the 1st
const COLLECTION = `[
  {"bn":"2001:db8::2/","bt":1.320078429e+09,"n":"temperature","u":"Cel","v":27.2},
  {"n":"humidity","u":"%RH","v":80},
  {"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":24.3},
  {"n":"humidity","u":"%RH","v":67}
]`;
// §5.1.7 Setting an Actuator: a thermostat (first record carries only the base name)
const THERMOSTAT = `[
  {"bn":"urn:dev:ow:10e2073a01080063:"},
  {"n":"temp","u":"Cel","v":23.1},
  {"n":"heat","u":"/","v":1},
  {"n":"fan","u":"/","v":0}
]`;
// §5.1.7: two lights dimmed now and switched off 100 ms later
const LIGHTS = `[
  {"bt":1.320078429e+09,"bu":"/","n":"2001:db8::3","v":0.5},
  {"n":"2001:db8::4","v":0.5},
  {"n":"2001:db8::3","t":0.1,"v":0},
  {"n":"2001:db8::4","t":0.1,"v":0}
]`;

describe("RFC 8428 §5.1 examples", () => {
  it("§5.1.1 single datapoint: no time means now", () => {
    expectResolved(resolve(parseJson(SINGLE), { now: NOW }), [{ n: DEV, u: "Cel", v: 23.1, t: NOW }]);
  });

  it("§5.1.2 multiple datapoints: bn + n", () => {
    expectResolved(resolve(parseJson(MULTI), { now: NOW }), [
      { n: `${DEV}:voltage`, u: "V", v: 120.1, t: NOW },
      { n: `${DEV}:current`, u: "A", v: 1.2, t: NOW },
    ]);
  });

  it("§5.1.2 timed: bt + t, bu, bver 5 kept, chronological and stable", () => {
    const base = 1276020076.001;
    const n = "urn:dev:ow:10e2073a0108006:";
    const current = (dt: number, v: number): ResolvedRecord => ({
      n: `${n}current`,
      u: "A",
      v,
      t: base + dt,
      bver: 5,
    });
    expectResolved(resolve(parseJson(MULTI_TIMED), { now: NOW }), [
      current(-5, 1.2),
      current(-4, 1.3),
      current(-3, 1.4),
      current(-2, 1.5),
      current(-1, 1.6),
      { n: `${n}voltage`, u: "V", v: 120.1, t: base, bver: 5 },
      current(0, 1.7),
    ]);
  });

  it("§5.1.3 multiple measurements resolve to the §5.1.4 resolved data", () => {
    expectResolved(resolve(parseJson(MEASUREMENTS), { now: NOW }), RESOLVED_MEASUREMENTS);
  });

  it("§5.1.4 resolved data resolves to itself", () => {
    const pack = parseJson(encodeJson(RESOLVED_MEASUREMENTS));
    expect(resolve(pack, { now: NOW })).toEqual(RESOLVED_MEASUREMENTS);
  });

  it("§5.1.5 multiple data types: vs, vb and vd (base64url 'hi \\n')", () => {
    expectResolved(resolve(parseJson(TYPES), { now: NOW }), [
      { n: `${DEV}:temp`, u: "Cel", v: 23.1, t: NOW },
      { n: `${DEV}:label`, vs: "Machine Room", t: NOW },
      { n: `${DEV}:open`, vb: false, t: NOW },
      { n: `${DEV}:nfc-reader`, vd: new Uint8Array([0x68, 0x69, 0x20, 0x0a]), t: NOW },
    ]);
  });

  it("§5.1.6 collection of resources: bn changes, bt carries on", () => {
    const t = 1320078429;
    expectResolved(resolve(parseJson(COLLECTION), { now: NOW }), [
      { n: "2001:db8::2/temperature", u: "Cel", v: 27.2, t },
      { n: "2001:db8::2/humidity", u: "%RH", v: 80, t },
      { n: "2001:db8::1/temperature", u: "Cel", v: 24.3, t },
      { n: "2001:db8::1/humidity", u: "%RH", v: 67, t },
    ]);
  });

  it("§5.1.7 setting an actuator: a base-only record yields no resolved record", () => {
    expectResolved(resolve(parseJson(THERMOSTAT), { now: NOW }), [
      { n: `${DEV}:temp`, u: "Cel", v: 23.1, t: NOW },
      { n: `${DEV}:heat`, u: "/", v: 1, t: NOW },
      { n: `${DEV}:fan`, u: "/", v: 0, t: NOW },
    ]);
  });

  it("§5.1.7 lights: fractional relative offsets on an absolute base time", () => {
    const t = 1320078429;
    expectResolved(resolve(parseJson(LIGHTS), { now: NOW }), [
      { n: "2001:db8::3", u: "/", v: 0.5, t },
      { n: "2001:db8::4", u: "/", v: 0.5, t },
      { n: "2001:db8::3", u: "/", v: 0, t: t + 0.1 },
      { n: "2001:db8::4", u: "/", v: 0, t: t + 0.1 },
    ]);
  });

  it.each([
    ["§5.1.1", SINGLE],
    ["§5.1.2", MULTI],
    ["§5.1.2 timed", MULTI_TIMED],
    ["§5.1.3", MEASUREMENTS],
    ["§5.1.5", TYPES],
    ["§5.1.6", COLLECTION],
    ["§5.1.7 thermostat", THERMOSTAT],
    ["§5.1.7 lights", LIGHTS],
  ])("%s round-trips JSON ↔ CBOR ↔ XML", (_name, json) => {
    roundTrips(parseJson(json));
  });
});

describe("RFC 8428 §6 CBOR example", () => {
  // The §6 dump of the §5.1.2 timed example: integer labels, a half-float 1.5, t 0 on the last record.
  const HEX =
    "87a721781b75726e3a6465763a6f773a3130653230373361303130383030363a22fb41d303a15b001062236141" +
    "2005006776 6f6c7461676501615602fb405e066666666666a3006763757272656e74062402fb3ff333333333" +
    "3333a3006763757272656e74062302fb3ff4cccccccccccda3006763757272656e74062202fb3ff666666666" +
    "6666a3006763757272656e74062102f93e00a3006763757272656e74062002fb3ff999999999999aa3006763" +
    "757272656e74060002fb3ffb333333333333";

  it("decodes to the JSON example (with the explicit t 0)", () => {
    const bytes = Uint8Array.from(
      HEX.replace(/ /g, "")
        .match(/../g)!
        .map((h) => parseInt(h, 16)),
    );
    const fromCbor = parseCbor(bytes);
    const fromJson = parseJson(MULTI_TIMED);
    fromJson[6]!.t = 0;
    expect(fromCbor).toEqual(fromJson);
    expect(resolve(fromCbor, { now: NOW })).toEqual(resolve(parseJson(MULTI_TIMED), { now: NOW }));
  });

  it("uses the integer labels of Table 6 and a byte string for vd", () => {
    const bytes = encodeCbor([{ bn: "a", bver: 10, bs: 1, n: "b", vd: new Uint8Array([1, 2]) }]);
    // [ {-2:"a", -16:1, -1:10, 0:"b", 8:h'0102'} ]
    expect(Array.from(bytes)).toEqual([
      0x81, 0xa5, 0x21, 0x61, 0x61, 0x2f, 0x01, 0x20, 0x0a, 0x00, 0x61, 0x62, 0x08, 0x42, 0x01, 0x02,
    ]);
  });

  it("encodes a SensML stream as an indefinite-length array and reads it back", () => {
    const pack = parseJson(MULTI);
    const bytes = encodeCbor(pack, { stream: true });
    expect(bytes[0]).toBe(0x9f);
    expect(bytes[bytes.length - 1]).toBe(0xff);
    expect(parseCbor(bytes)).toEqual(pack);
  });
});

describe("RFC 8428 §7 XML example", () => {
  const XML = `<sensml xmlns="urn:ietf:params:xml:ns:senml">
  <senml bn="urn:dev:ow:10e2073a0108006:" bt="1.276020076001e+09"
  bu="A" bver="5" n="voltage" u="V" v="120.1"></senml>
  <senml n="current" t="-5" v="1.2"></senml>
  <senml n="current" t="-4" v="1.3"></senml>
  <senml n="current" t="-3" v="1.4"></senml>
  <senml n="current" t="-2" v="1.5"></senml>
  <senml n="current" t="-1" v="1.6"></senml>
  <senml n="current" v="1.7"></senml>
</sensml>`;

  it("parses to the JSON example", () => {
    expect(parseXml(XML)).toEqual(parseJson(MULTI_TIMED));
  });

  it("carries vd as base64url text", () => {
    const xml = encodeXml(parseJson(TYPES));
    expect(xml).toContain('vd="aGkgCg"');
    expect(xml.startsWith('<sensml xmlns="urn:ietf:params:xml:ns:senml">')).toBe(true);
  });
});
