/**
 * Pack semantics and resolution (RFC 8428 §4.1–§4.6). One hand-written pass carries the base
 * fields forward, checks the rules that need them (resolved name, value presence, one version),
 * and, when asked, builds the resolved records.
 */
import { senmlError } from "./errors.js";
import { badNameChar, goodFirstChar } from "./names.js";
import {
  RELATIVE_TIME_LIMIT,
  SENML_VERSION,
  type ResolvedRecord,
  type SenmlPack,
  type SenmlRecord,
} from "./types.js";

export interface ResolveOptions {
  /** "Now" in seconds since the epoch, for relative times (RFC 8428 §4.5.3). Injected: no clock here. */
  readonly now: number;
}

/** A record made only of base fields sets context and yields no resolved record (RFC 8428 §4.1). */
function hasRegularField(r: SenmlRecord): boolean {
  return (
    r.n !== undefined ||
    r.u !== undefined ||
    r.v !== undefined ||
    r.vs !== undefined ||
    r.vb !== undefined ||
    r.vd !== undefined ||
    r.s !== undefined ||
    r.t !== undefined ||
    r.ut !== undefined
  );
}

/**
 * Walk a pack; with `out`, append resolved records (unsorted). Throws RelaisError on the first
 * semantic violation. Field types are the caller's business (validate.ts or the TypeScript types).
 */
export function walkPack(pack: SenmlPack, out: ResolvedRecord[] | null, now: number): void {
  if (pack.length === 0) {
    throw senmlError("RELAIS_ERR_SENML_NOT_A_PACK", "A SenML pack has at least one record");
  }
  let bn = "";
  let bnIndex = -1;
  let bt = 0;
  let bu: string | undefined;
  let bv: number | undefined;
  let bs: number | undefined;
  let version = SENML_VERSION;
  let measurements = 0;
  for (let i = 0; i < pack.length; i++) {
    const r = pack[i]!;
    // Base fields apply from the record that carries them on (§4.1).
    if (r.bver !== undefined) {
      if (r.bver > SENML_VERSION) {
        throw senmlError(
          "RELAIS_ERR_SENML_VERSION",
          `bver ${r.bver} is newer than the supported version ${SENML_VERSION}`,
          i,
          "bver",
        );
      }
      // §4.4: all records of a pack share one version; records before the first bver had 10.
      if (i > 0 && r.bver !== version) {
        throw senmlError(
          "RELAIS_ERR_SENML_VERSION",
          `bver ${r.bver} differs from the version ${version} of earlier records`,
          i,
          "bver",
        );
      }
      version = r.bver;
    }
    if (r.bn !== undefined) {
      const bad = badNameChar(r.bn);
      if (bad >= 0) {
        throw senmlError(
          "RELAIS_ERR_SENML_NAME",
          `bn has a character not allowed in names at ${bad}`,
          i,
          "bn",
        );
      }
      bn = r.bn;
      bnIndex = i;
    }
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    if (r.bs !== undefined) bs = r.bs;
    if (!hasRegularField(r)) {
      // A record of base fields only sets context (as in the §5.1.7 example); an empty one is an error.
      if (
        r.bn === undefined &&
        r.bt === undefined &&
        r.bu === undefined &&
        r.bv === undefined &&
        r.bs === undefined &&
        r.bver === undefined
      ) {
        throw senmlError("RELAIS_ERR_SENML_NO_VALUE", "The record has no SenML field at all", i);
      }
      continue;
    }
    measurements++;

    // §4.5.1: the concatenated name, non-empty, restricted charset, letter/digit first.
    const n = r.n;
    if (n !== undefined) {
      const bad = badNameChar(n);
      if (bad >= 0) {
        throw senmlError("RELAIS_ERR_SENML_NAME", `n has a character not allowed in names at ${bad}`, i, "n");
      }
    }
    // Check the first character on bn or n, not on bn + n: reading a concatenation flattens it.
    const head = bn.length > 0 ? bn : (n ?? "");
    if (head.length === 0 || !goodFirstChar(head)) {
      const msg =
        head.length === 0
          ? "The record has no name (bn + n is empty)"
          : "A name must start with a letter or a digit";
      throw bn.length > 0
        ? senmlError("RELAIS_ERR_SENML_NAME", msg, bnIndex, "bn", { record: i })
        : senmlError("RELAIS_ERR_SENML_NAME", msg, i, n === undefined ? undefined : "n");
    }

    // §4.2: at most one value field; none is allowed only with a sum.
    let values = 0;
    if (r.v !== undefined) values++;
    if (r.vs !== undefined) values++;
    if (r.vb !== undefined) values++;
    if (r.vd !== undefined) values++;
    if (values > 1) {
      throw senmlError(
        "RELAIS_ERR_SENML_MULTIPLE_VALUES",
        "A record carries more than one of v, vs, vb, vd",
        i,
      );
    }
    // §4.5.4: a missing Value or Base Value counts as zero, so a Base Value alone gives a value.
    const hasNumeric = r.v !== undefined || (values === 0 && bv !== undefined);
    const hasSum = r.s !== undefined || bs !== undefined;
    if (values === 0 && !hasNumeric && !hasSum) {
      throw senmlError("RELAIS_ERR_SENML_NO_VALUE", "The record has no value (v, vs, vb, vd) and no sum", i);
    }
    if (out === null) continue;

    // §4.5.3: time = bt + t (missing = 0); below 2^28 it is relative to now.
    let t = r.t === undefined ? bt : bt + r.t;
    if (t < RELATIVE_TIME_LIMIT) t = now + t;
    if (!Number.isFinite(t)) throw overflow(i, r.t === undefined ? "bt" : "t");
    const rec: ResolvedRecord = { n: n === undefined ? bn : bn + n, t };
    const u = r.u ?? bu;
    if (u !== undefined) rec.u = u;
    if (hasNumeric) {
      rec.v = r.v === undefined ? bv! : bv === undefined ? r.v : bv + r.v;
    } else if (r.vs !== undefined) rec.vs = r.vs;
    else if (r.vb !== undefined) rec.vb = r.vb;
    else if (r.vd !== undefined) rec.vd = r.vd;
    if (rec.v !== undefined && !Number.isFinite(rec.v)) throw overflow(i, "v");
    if (hasSum) {
      rec.s = r.s === undefined ? bs! : bs === undefined ? r.s : bs + r.s;
      if (!Number.isFinite(rec.s)) throw overflow(i, "s");
    }
    if (r.ut !== undefined) rec.ut = r.ut;
    // §4.6: bver stays on every resolved record only when it is not the default.
    if (version !== SENML_VERSION) rec.bver = version;
    out.push(rec);
  }
  if (measurements === 0) {
    throw senmlError(
      "RELAIS_ERR_SENML_NO_VALUE",
      "The pack has base fields only and no record with a value",
      0,
    );
  }
}

function overflow(index: number, field: string) {
  return senmlError(
    "RELAIS_ERR_SENML_FIELD_TYPE",
    `The resolved ${field} is not a finite IEEE-754 double (base + value overflows)`,
    index,
    field,
  );
}

/**
 * Resolve a pack (RFC 8428 §4.6): base fields applied and removed, absolute times, records in
 * chronological order (stable for equal times).
 */
export function resolve(pack: SenmlPack, options: ResolveOptions): ResolvedRecord[] {
  const out: ResolvedRecord[] = [];
  walkPack(pack, out, options.now);
  let sorted = true;
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.t < out[i - 1]!.t) {
      sorted = false;
      break;
    }
  }
  // Array.prototype.sort is stable (ES2019), which keeps equal times in pack order.
  if (!sorted) out.sort((a, b) => a.t - b.t);
  return out;
}
