/** SenML JSON representation (RFC 8428 §5): application/senml+json and application/sensml+json. */
import { encodeBase64url } from "./base64url.js";
import { senmlError } from "./errors.js";
import type { ResolvedRecord, SenmlPack, SenmlRecord } from "./types.js";
import { validatePack } from "./validate.js";

export interface ParseOptions {
  /** Reject inputs larger than this many bytes (UTF-8 for text). Default 16 MiB. */
  readonly maxBytes?: number;
}

export const DEFAULT_MAX_INPUT_BYTES = 16 * 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function checkSize(bytes: number, options: ParseOptions | undefined): void {
  const max = options?.maxBytes ?? DEFAULT_MAX_INPUT_BYTES;
  if (bytes > max) {
    throw senmlError(
      "RELAIS_ERR_SENML_TOO_LARGE",
      `The input has ${bytes} bytes, more than ${max}`,
      undefined,
      undefined,
      {
        bytes,
        maxBytes: max,
      },
    );
  }
}

/** Decode UTF-8 strictly (RFC 8428 §5: only UTF-8 JSON). */
export function utf8Text(input: Uint8Array): string {
  try {
    return utf8.decode(input);
  } catch (e) {
    throw senmlError("RELAIS_ERR_SENML_SYNTAX", "The input is not valid UTF-8", undefined, undefined, {}, e);
  }
}

/** Size check, strict UTF-8 and JSON.parse: the decoded value, not yet validated. */
export function decodeJson(input: string | Uint8Array, options?: ParseOptions): unknown {
  let text: string;
  if (typeof input === "string") {
    // A string of n UTF-16 units has at least n UTF-8 bytes; count exactly only near the limit.
    const max = options?.maxBytes ?? DEFAULT_MAX_INPUT_BYTES;
    if (input.length * 3 > max) checkSize(utf8Length(input), options);
    text = input;
  } else {
    checkSize(input.length, options);
    text = utf8Text(input);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw senmlError(
      "RELAIS_ERR_SENML_SYNTAX",
      `Not well-formed JSON: ${(e as Error).message}`,
      undefined,
      undefined,
      {},
      e,
    );
  }
}

/** Parse and validate a SenML JSON pack (or SensML stream: the same array form). */
export function parseJson(input: string | Uint8Array, options?: ParseOptions): SenmlPack {
  return validatePack(decodeJson(input, options), "base64url");
}

/** Bytes of the UTF-8 encoding of a string (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 4 bytes for 2 units
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

function numberText(value: number, index: number, key: string): string {
  if (!Number.isFinite(value)) {
    throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", `${key} must be a finite number`, index, key);
  }
  // JSON.stringify gives the shortest round-trip form with a lower-case "e" (RFC 8428 §5).
  return JSON.stringify(value);
}

/** One record as a JSON object text, labels in the RFC's order. */
export function encodeJsonRecord(r: SenmlRecord | ResolvedRecord, index = 0): string {
  let s = "{";
  const b = r as SenmlRecord;
  if (b.bn !== undefined) s += `"bn":${JSON.stringify(b.bn)},`;
  if (b.bt !== undefined) s += `"bt":${numberText(b.bt, index, "bt")},`;
  if (b.bu !== undefined) s += `"bu":${JSON.stringify(b.bu)},`;
  if (b.bv !== undefined) s += `"bv":${numberText(b.bv, index, "bv")},`;
  if (b.bs !== undefined) s += `"bs":${numberText(b.bs, index, "bs")},`;
  if (b.bver !== undefined) s += `"bver":${numberText(b.bver, index, "bver")},`;
  if (r.n !== undefined) s += `"n":${JSON.stringify(r.n)},`;
  if (r.u !== undefined) s += `"u":${JSON.stringify(r.u)},`;
  if (r.v !== undefined) s += `"v":${numberText(r.v, index, "v")},`;
  if (r.vs !== undefined) s += `"vs":${JSON.stringify(r.vs)},`;
  if (r.vb !== undefined) s += `"vb":${r.vb ? "true" : "false"},`;
  if (r.vd !== undefined) s += `"vd":"${encodeBase64url(r.vd)}",`;
  if (r.s !== undefined) s += `"s":${numberText(r.s, index, "s")},`;
  if (r.t !== undefined) s += `"t":${numberText(r.t, index, "t")},`;
  if (r.ut !== undefined) s += `"ut":${numberText(r.ut, index, "ut")},`;
  return s.length === 1 ? "{}" : `${s.slice(0, -1)}}`;
}

/** Encode a pack or resolved records as SenML JSON text (compact). */
export function encodeJson(pack: readonly (SenmlRecord | ResolvedRecord)[]): string {
  let s = "[";
  for (let i = 0; i < pack.length; i++) {
    if (i > 0) s += ",";
    s += encodeJsonRecord(pack[i]!, i);
  }
  return `${s}]`;
}
