/**
 * Resolved SenML records (RFC 8428 §4.6) → resource updates, shared by the SenML ingest endpoint
 * and the MQTT connector's `senml` topics. A record's full name (bn + n) is
 * `provider/service/resource` (CONTRACTS.md §4); the value comes from v / vs / vb / vd (or s when
 * it carries only a sum), `u` becomes the `unit` metadata, `t` (seconds) the timestamp.
 */
import type { ResourceUpdate } from "./ports.js";

/** The resolved-record shape of src/senml (structurally compatible with its ResolvedRecord). */
export interface SenmlResolved {
  n: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  s?: number;
  t: number;
}

/** Parse + validate + resolve a pack; throws a RelaisError (SENML area) for an invalid pack. */
export type SenmlDecode = (
  payload: Uint8Array | string,
  format: "json" | "cbor",
  nowSeconds: number,
) => SenmlResolved[];

export interface RecordRejection {
  index: number;
  /** An ErrorCode of the catalogue. */
  code: string;
  message: string;
}

export interface ConvertedRecords {
  /** Updates with the index of the record they come from. */
  updates: { index: number; update: ResourceUpdate }[];
  rejected: RecordRejection[];
}

export function recordsToUpdates(records: readonly SenmlResolved[], prefix = ""): ConvertedRecords {
  const out: ConvertedRecords = { updates: [], rejected: [] };
  records.forEach((r, index) => {
    const name = prefix + r.n;
    const parts = name.split("/");
    if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
      out.rejected.push({
        index,
        code: "RELAIS_ERR_SENML_FULL_NAME",
        message: `record name "${name}" is not "provider/service/resource"`,
      });
      return;
    }
    let value: unknown;
    let valueType: string;
    if (r.v !== undefined) [value, valueType] = [r.v, "float"];
    else if (r.vs !== undefined) [value, valueType] = [r.vs, "string"];
    else if (r.vb !== undefined) [value, valueType] = [r.vb, "boolean"];
    else if (r.vd !== undefined) [value, valueType] = [Buffer.from(r.vd).toString("base64"), "binary"];
    else if (r.s !== undefined) [value, valueType] = [r.s, "float"];
    else {
      out.rejected.push({
        index,
        code: "RELAIS_ERR_CONNECTOR_MAPPING_FAILED",
        message: "record has no value",
      });
      return;
    }
    const update: ResourceUpdate = {
      provider: parts[0]!,
      service: parts[1]!,
      resource: parts[2]!,
      value,
      valueType,
      timestamp: Math.round(r.t * 1000),
    };
    if (r.u !== undefined) update.metadata = { unit: r.u };
    out.updates.push({ index, update });
  });
  return out;
}
