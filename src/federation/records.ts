/**
 * Federated records: one data point of the gateway model as it crosses the federation, and its
 * SenML form (CONTRACTS.md §4: full name provider/service/resource, times in seconds, units in `u`,
 * values in v / vs / vb / vd by type).
 */
import { RelaisError, isRelaisError } from "../core/errors.js";
import { encodeBase64url } from "../senml/base64url.js";
import { parseJson } from "../senml/json.js";
import { resolve } from "../senml/resolve.js";
import type { ResolvedRecord, SenmlRecord } from "../senml/types.js";
import type { ResourceName } from "./selector.js";

export interface FederatedRecord extends ResourceName {
  /** JSON value: number, string, boolean, or an object/array (sent as a JSON string in `vs`). */
  value: unknown;
  /** ms since the epoch. */
  timestamp: number;
  unit?: string;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9\-:._]{0,63}$/;

export function pathOf(r: ResourceName): string {
  return `${r.provider}/${r.service}/${r.resource}`;
}

/** The SenML record of a federated record, with its full name (no base fields). */
export function toSenml(r: FederatedRecord): SenmlRecord {
  const out: SenmlRecord = { n: pathOf(r), t: r.timestamp / 1000 };
  if (r.unit !== undefined) out.u = r.unit;
  setValue(out, r.value);
  return out;
}

/** A value in its SenML field: v, vb, vs, or vs holding the JSON of an object or array. */
export function setValue(out: SenmlRecord, v: unknown): void {
  if (typeof v === "number") out.v = v;
  else if (typeof v === "boolean") out.vb = v;
  else if (typeof v === "string") out.vs = v;
  else out.vs = JSON.stringify(v);
}

function valueOf(rec: ResolvedRecord): unknown {
  if (rec.v !== undefined) return rec.v;
  if (rec.vs !== undefined) return rec.vs;
  if (rec.vb !== undefined) return rec.vb;
  if (rec.vd !== undefined) return encodeBase64url(rec.vd);
  return rec.s;
}

/**
 * Parse, validate and resolve a message body (RFC 8428 §4.6, relative times against nowMs) into
 * federated records. Throws RELAIS_ERR_FED_BAD_PACK (with the SenML code and JSON pointer in the
 * details) when the body is not a pack of provider/service/resource records.
 */
export function recordsFromBody(body: string, nowMs: number, maxBytes = 16 * 1024 * 1024): FederatedRecord[] {
  let resolved: ResolvedRecord[];
  try {
    resolved = resolve(parseJson(body, { maxBytes }), { now: nowMs / 1000 });
  } catch (e) {
    if (!isRelaisError(e)) throw e;
    throw new RelaisError(
      "RELAIS_ERR_FED_BAD_PACK",
      `Invalid SenML pack: ${e.message}`,
      { senmlCode: e.code, ...e.details },
      { cause: e },
    );
  }
  return resolved.map((rec, index) => {
    const parts = rec.n.split("/");
    if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) {
      throw new RelaisError(
        "RELAIS_ERR_FED_BAD_PACK",
        `Record ${index}: the full name ${JSON.stringify(rec.n)} is not provider/service/resource`,
        { index, name: rec.n },
      );
    }
    const out: FederatedRecord = {
      provider: parts[0]!,
      service: parts[1]!,
      resource: parts[2]!,
      value: valueOf(rec),
      timestamp: Math.round(rec.t * 1000),
    };
    if (rec.u !== undefined) out.unit = rec.u;
    return out;
  });
}
