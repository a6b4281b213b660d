/**
 * Shape and type validation of a decoded pack (RFC 8428 §4, §5 Table 4): the common step after
 * JSON.parse, CBOR decoding (labels translated) and XML parsing. Produces typed records holding
 * only the labels defined by RFC 8428; other labels are ignored unless they end in "_" (§4.4).
 */
import { decodeBase64url } from "./base64url.js";
import { senmlError } from "./errors.js";
import { walkPack } from "./resolve.js";
import { SENML_VERSION, type SenmlPack, type SenmlRecord } from "./types.js";

/** How the data value arrives: base64url text (JSON, XML) or a byte string (CBOR). */
export type DataValueForm = "base64url" | "bytes";

const LONE_SURROGATE = /[\uD800-\uDFFF]/;

function wellFormed(s: string): boolean {
  if (!LONE_SURROGATE.test(s)) return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

/** Names are checked against the ASCII charset of §4.5.1 later, which also rules out lone surrogates. */
function name(value: unknown, i: number, key: string): string {
  if (typeof value !== "string") {
    throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", `${key} must be a string`, i, key);
  }
  return value;
}

function str(value: unknown, i: number, key: string): string {
  if (typeof value !== "string") {
    throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", `${key} must be a string`, i, key);
  }
  if (!wellFormed(value)) {
    throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", `${key} is not well-formed Unicode`, i, key);
  }
  return value;
}

function num(value: unknown, i: number, key: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw senmlError(
      "RELAIS_ERR_SENML_FIELD_TYPE",
      `${key} must be a finite number (IEEE-754 double)`,
      i,
      key,
    );
  }
  return value;
}

function version(value: unknown, i: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", "bver must be a positive integer", i, "bver");
  }
  if (value > SENML_VERSION) {
    throw senmlError(
      "RELAIS_ERR_SENML_VERSION",
      `bver ${value} is newer than the supported version ${SENML_VERSION}`,
      i,
      "bver",
    );
  }
  return value;
}

function dataValue(value: unknown, i: number, form: DataValueForm): Uint8Array {
  if (form === "bytes") {
    if (!(value instanceof Uint8Array)) {
      throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", "vd must be a CBOR byte string", i, "vd");
    }
    // Copy: the decoder may hand out a view on the input buffer.
    return new Uint8Array(value);
  }
  if (typeof value !== "string") {
    throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", "vd must be a base64url string", i, "vd");
  }
  const bytes = decodeBase64url(value);
  if (bytes === undefined) {
    throw senmlError("RELAIS_ERR_SENML_BASE64", "vd is not unpadded base64url (RFC 4648 §5)", i, "vd");
  }
  return bytes;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/** Validate one decoded record (an object keyed by SenML labels). */
export function validateRecord(raw: unknown, i: number, form: DataValueForm): SenmlRecord {
  if (!isPlainRecord(raw)) {
    throw senmlError("RELAIS_ERR_SENML_NOT_A_PACK", "A SenML record must be an object", i);
  }
  const r: SenmlRecord = {};
  for (const key in raw) {
    const value = raw[key];
    switch (key) {
      case "bn":
        r.bn = name(value, i, key);
        break;
      case "bt":
        r.bt = num(value, i, key);
        break;
      case "bu":
        r.bu = str(value, i, key);
        break;
      case "bv":
        r.bv = num(value, i, key);
        break;
      case "bs":
        r.bs = num(value, i, key);
        break;
      case "bver":
        r.bver = version(value, i);
        break;
      case "n":
        r.n = name(value, i, key);
        break;
      case "u":
        r.u = str(value, i, key);
        break;
      case "v":
        r.v = num(value, i, key);
        break;
      case "vs":
        r.vs = str(value, i, key);
        break;
      case "vb":
        if (typeof value !== "boolean") {
          throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", "vb must be a boolean", i, key);
        }
        r.vb = value;
        break;
      case "vd":
        r.vd = dataValue(value, i, form);
        break;
      case "s":
        r.s = num(value, i, key);
        break;
      case "t":
        r.t = num(value, i, key);
        break;
      case "ut":
        r.ut = num(value, i, key);
        break;
      default:
        // §4.4: unknown labels are ignored, except must-understand ones ending in "_".
        if (key.endsWith("_")) {
          throw senmlError(
            "RELAIS_ERR_SENML_MUST_UNDERSTAND",
            `Unknown must-understand field ${JSON.stringify(key)}`,
            i,
            key,
          );
        }
    }
  }
  return r;
}

/** Type every record of a decoded pack; the pack-level rules (§4) are left to walkPack/resolve. */
export function typedRecords(raw: unknown, form: DataValueForm): SenmlPack {
  if (!Array.isArray(raw)) {
    throw senmlError("RELAIS_ERR_SENML_NOT_A_PACK", "A SenML pack must be an array of records");
  }
  const pack: SenmlPack = [];
  for (let i = 0; i < raw.length; i++) pack.push(validateRecord(raw[i], i, form));
  return pack;
}

/** Validate a decoded pack: an array of records, each typed, then the pack-level rules (§4). */
export function validatePack(raw: unknown, form: DataValueForm): SenmlPack {
  const pack = typedRecords(raw, form);
  walkPack(pack, null, 0);
  return pack;
}
