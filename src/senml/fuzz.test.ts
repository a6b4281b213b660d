/**
 * Property tests (RELIABILITY S4): generated valid packs round-trip through JSON, CBOR and XML and
 * resolve idempotently; mutated packs and bytes never crash and never throw anything but a
 * RelaisError with a SENML code and a JSON pointer. RUNS sums to ≥ 10,000 cases per run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RelaisError } from "../core/errors.js";
import { LABELS } from "./types.js";
import {
  encodeCbor,
  encodeJson,
  encodeXml,
  parseCbor,
  parseJson,
  parsePack,
  parseXml,
  resolve,
  resolveInput,
  resolveJson,
  type SenmlPack,
  type SenmlRecord,
} from "./index.js";

const RUNS = {
  roundTrip: 1200,
  idempotent: 1000,
  jsonStructure: 2500,
  jsonBytes: 1500,
  cborBytes: 2000,
  xmlBytes: 1500,
  randomBytes: 1000,
  fused: 1000,
} as const;

const NOW = 1_700_000_000;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const NAME_CHARS = `${ALNUM}-:./_`;

const nameTail = fc.string({ unit: fc.constantFrom(...NAME_CHARS.split("")), maxLength: 12 });
const validName = fc
  .tuple(fc.constantFrom(...ALNUM.split("")), nameTail)
  .map(([first, rest]) => first + rest);
// Any well-formed string XML can carry (tab, newline and carriage return included).
const text = fc
  .string({ unit: "grapheme", maxLength: 16 })
  // eslint-disable-next-line no-control-regex -- dropping what XML 1.0 cannot carry
  .map((s) => s.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, ""));
const double = fc.double({ min: -1e300, max: 1e300, noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x));
const relTime = fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x));
const absTime = fc.double({ min: 2 ** 28, max: 4e9, noNaN: true });

type ValueChoice = Pick<SenmlRecord, "v" | "vs" | "vb" | "vd" | "s">;
const value: fc.Arbitrary<ValueChoice> = fc.oneof(
  double.map((v) => ({ v })),
  text.map((vs) => ({ vs })),
  fc.boolean().map((vb) => ({ vb })),
  fc.uint8Array({ maxLength: 24 }).map((vd) => ({ vd })),
  double.map((s) => ({ s })),
  fc.tuple(double, double).map(([v, s]) => ({ v, s })),
);

function optional<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(arb, { nil: undefined, freq: 2 });
}

const record = fc.record({
  bn: optional(validName),
  bt: optional(absTime),
  bu: optional(text),
  n: optional(nameTail),
  u: optional(text),
  t: optional(relTime),
  ut: optional(fc.double({ min: 0, max: 1e6, noNaN: true })),
  value,
});

function clean(r: Record<string, unknown>): SenmlRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v;
  return out;
}

/** Valid packs: the first record has a base name, so every name starts with a letter or digit. */
const validPack: fc.Arbitrary<SenmlPack> = fc
  .tuple(
    validName,
    fc.array(record, { minLength: 1, maxLength: 8 }),
    fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
  )
  .map(([bn0, recs, bver]) =>
    recs.map(({ value: v, ...rest }, i) => {
      const r = clean({ ...rest, ...v });
      if (i === 0) {
        r.bn ??= bn0;
        if (bver !== undefined) r.bver = bver;
      }
      return r;
    }),
  );

function expectSenmlError(e: unknown): void {
  if (!(e instanceof RelaisError)) throw e;
  expect(e.code).toMatch(/^RELAIS_ERR_SENML_/);
  expect(typeof e.details.pointer).toBe("string");
  expect(e.details.pointer === "" || (e.details.pointer as string).startsWith("/")).toBe(true);
}

/** Parse, then resolve and re-encode whatever was accepted: only RelaisErrors may come out. */
function survive(parse: () => SenmlPack): void {
  try {
    const pack = parse();
    resolve(pack, { now: NOW });
    encodeJson(pack);
    encodeCbor(pack);
    encodeXml(pack);
  } catch (e) {
    expectSenmlError(e);
  }
}

const mutateBytes = (bytes: Uint8Array) =>
  fc
    .array(
      fc.record({
        op: fc.constantFrom("flip", "set", "insert", "delete", "truncate"),
        at: fc.nat(),
        byte: fc.integer({ min: 0, max: 255 }),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((ops) => {
      let b = Array.from(bytes);
      for (const { op, at, byte } of ops) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (op === "flip") b[i] = (b[i] ?? 0) ^ (1 << (byte & 7));
        else if (op === "set") b[i] = byte;
        else if (op === "insert") b.splice(i, 0, byte);
        else if (op === "delete") b.splice(i, 1);
        else b = b.slice(0, i);
      }
      return Uint8Array.from(b);
    });

describe("SenML property tests", () => {
  it("the fuzz budget is at least 10,000 cases", () => {
    expect(Object.values(RUNS).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(10_000);
  });

  it("valid packs round-trip JSON, CBOR and XML", () => {
    fc.assert(
      fc.property(validPack, (pack) => {
        expect(parseJson(encodeJson(pack))).toEqual(pack);
        expect(parseCbor(encodeCbor(pack))).toEqual(pack);
        expect(parseXml(encodeXml(pack))).toEqual(pack);
        expect(parseCbor(encodeCbor(pack, { stream: true }))).toEqual(pack);
      }),
      { numRuns: RUNS.roundTrip },
    );
  });

  it("resolving a resolved pack gives the same records", () => {
    fc.assert(
      fc.property(validPack, (pack) => {
        const once = resolve(pack, { now: NOW });
        expect(resolve(once, { now: NOW + 1234 })).toEqual(once);
        // and through the wire
        expect(resolve(parseJson(encodeJson(once)), { now: 0 })).toEqual(once);
        for (let i = 1; i < once.length; i++) expect(once[i]!.t).toBeGreaterThanOrEqual(once[i - 1]!.t);
      }),
      { numRuns: RUNS.idempotent },
    );
  });

  it("structurally mutated JSON packs are accepted or rejected with a code and a pointer", () => {
    // every field of RFC 8428 plus an unknown one, a must-understand one and a prototype key
    const label = fc.constantFrom(...LABELS, "x", "x_", "__proto__");
    const mutation = fc.record({
      kind: fc.constantFrom("set", "delete", "replace-record", "wrap"),
      index: fc.nat(),
      label,
      junk: fc.jsonValue({ maxDepth: 2 }),
    });
    fc.assert(
      fc.property(validPack, fc.array(mutation, { minLength: 1, maxLength: 3 }), (pack, mutations) => {
        let raw: unknown = JSON.parse(encodeJson(pack));
        for (const m of mutations) {
          if (!Array.isArray(raw) || raw.length === 0) break;
          const i = m.index % raw.length;
          const rec = raw[i] as Record<string, unknown>;
          if (m.kind === "set" && typeof rec === "object" && rec !== null) rec[m.label] = m.junk;
          else if (m.kind === "delete" && typeof rec === "object" && rec !== null)
            Reflect.deleteProperty(rec, m.label);
          else if (m.kind === "replace-record") raw[i] = m.junk;
          else raw = { [m.label]: raw };
        }
        survive(() => parseJson(JSON.stringify(raw)));
      }),
      { numRuns: RUNS.jsonStructure },
    );
  });

  it("the one-pass resolveJson/resolveInput agree with parse + resolve, on mutated input too", () => {
    const outcome = (fn: () => unknown) => {
      try {
        return { ok: fn() };
      } catch (e) {
        expectSenmlError(e);
        return { error: true };
      }
    };
    fc.assert(
      fc.property(
        validPack.chain((p) =>
          fc.oneof(
            fc.constant(new TextEncoder().encode(encodeJson(p))),
            mutateBytes(new TextEncoder().encode(encodeJson(p))),
          ),
        ),
        (bytes) => {
          const twoPass = outcome(() => resolve(parseJson(bytes), { now: NOW }));
          expect(outcome(() => resolveJson(bytes, { now: NOW }))).toEqual(twoPass);
          expect(outcome(() => resolveInput(bytes, { now: NOW, format: "json" }))).toEqual(twoPass);
        },
      ),
      { numRuns: RUNS.fused },
    );
  });

  it("byte-mutated JSON never escapes as a non-Relais error", () => {
    fc.assert(
      fc.property(
        validPack.chain((p) => mutateBytes(new TextEncoder().encode(encodeJson(p)))),
        (bytes) => {
          survive(() => parseJson(bytes));
        },
      ),
      { numRuns: RUNS.jsonBytes },
    );
  });

  it("byte-mutated CBOR never escapes as a non-Relais error", () => {
    fc.assert(
      fc.property(
        validPack.chain((p) => mutateBytes(encodeCbor(p))),
        (bytes) => {
          survive(() => parseCbor(bytes));
        },
      ),
      { numRuns: RUNS.cborBytes },
    );
  });

  it("byte-mutated XML never escapes as a non-Relais error", () => {
    fc.assert(
      fc.property(
        validPack.chain((p) => mutateBytes(new TextEncoder().encode(encodeXml(p)))),
        (bytes) => {
          survive(() => parseXml(bytes));
        },
      ),
      { numRuns: RUNS.xmlBytes },
    );
  });

  it("random bytes in any representation never escape as a non-Relais error", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom(undefined, "json" as const, "cbor" as const, "xml" as const),
        (bytes, format) => {
          survive(() => parsePack(bytes, format));
        },
      ),
      { numRuns: RUNS.randomBytes },
    );
  });
});
