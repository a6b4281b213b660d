/**
 * SenML CBOR representation (RFC 8428 §6): integer map keys for the RFC labels (Table 6), text
 * strings for other labels, vd as a byte string; a definite-length array for a pack and an
 * indefinite-length array for a SensML stream.
 */
import { Decoder, Encoder, FLOAT32_OPTIONS } from "cbor-x";
import { senmlError } from "./errors.js";
import { checkSize, type ParseOptions } from "./json.js";
import {
  CBOR_LABELS,
  LABELS,
  type Label,
  type ResolvedRecord,
  type SenmlPack,
  type SenmlRecord,
} from "./types.js";
import { validatePack } from "./validate.js";

const LABEL_OF_KEY = new Map<number, Label>();
for (const label of LABELS) LABEL_OF_KEY.set(CBOR_LABELS[label], label);

// No record/structure extensions: plain RFC 8949 data items only. Maps stay Maps (integer keys).
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  useFloat32: FLOAT32_OPTIONS.NEVER,
});

/** Decode CBOR and translate integer labels: the records, not yet validated. */
export function decodeCbor(input: Uint8Array, options?: ParseOptions): unknown {
  checkSize(input.length, options);
  let raw: unknown;
  try {
    raw = decoder.decode(input);
  } catch (e) {
    throw senmlError(
      "RELAIS_ERR_SENML_SYNTAX",
      `Not well-formed CBOR: ${(e as Error).message}`,
      undefined,
      undefined,
      {},
      e,
    );
  }
  if (!Array.isArray(raw)) {
    throw senmlError("RELAIS_ERR_SENML_NOT_A_PACK", "A SenML pack must be a CBOR array of maps");
  }
  const records: unknown[] = [];
  for (let i = 0; i < raw.length; i++) records.push(labelled(raw[i], i));
  return records;
}

/** Parse and validate a SenML CBOR pack or SensML stream. */
export function parseCbor(input: Uint8Array, options?: ParseOptions): SenmlPack {
  return validatePack(decodeCbor(input, options), "bytes");
}

/** Translate a CBOR map to an object keyed by SenML labels. */
function labelled(item: unknown, i: number): unknown {
  if (!(item instanceof Map)) return item; // validatePack reports NOT_A_PACK with the index
  const out: Record<string, unknown> = {};
  for (const [key, value] of item as Map<unknown, unknown>) {
    let label: string;
    if (typeof key === "number") {
      const known = LABEL_OF_KEY.get(key);
      // §6: the integer table is conclusive; other integer keys are unknown, hence ignored.
      if (known === undefined) continue;
      label = known;
    } else if (typeof key === "string") {
      label = key;
    } else {
      throw senmlError(
        "RELAIS_ERR_SENML_SYNTAX",
        "A CBOR map key is neither an integer nor a text string",
        i,
      );
    }
    if (Object.hasOwn(out, label)) {
      throw senmlError("RELAIS_ERR_SENML_SYNTAX", `The label ${label} appears twice`, i, label);
    }
    // Integers beyond 2^53 decode as bigint; SenML numbers are doubles (§6).
    out[label] = typeof value === "bigint" ? Number(value) : value;
  }
  return out;
}

function recordMap(r: SenmlRecord | ResolvedRecord, index: number): Map<number, unknown> {
  const m = new Map<number, unknown>();
  const b = r as SenmlRecord;
  for (const label of LABELS) {
    const value = b[label];
    if (value === undefined) continue;
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", `${label} must be a finite number`, index, label);
    }
    m.set(CBOR_LABELS[label], value);
  }
  return m;
}

export interface CborEncodeOptions {
  /** SensML stream (RFC 8428 §6): an indefinite-length array. */
  readonly stream?: boolean;
}

/** Encode a pack (definite-length array) or a SensML stream (indefinite-length array). */
export function encodeCbor(
  pack: readonly (SenmlRecord | ResolvedRecord)[],
  options: CborEncodeOptions = {},
): Uint8Array {
  const maps = pack.map((r, i) => recordMap(r, i));
  if (options.stream !== true) return new Uint8Array(encoder.encode(maps));
  const parts = maps.map((m) => encoder.encode(m));
  const total = parts.reduce((n, p) => n + p.length, 2);
  const out = new Uint8Array(total);
  out[0] = 0x9f;
  let o = 1;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  out[o] = 0xff;
  return out;
}
