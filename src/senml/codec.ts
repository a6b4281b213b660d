/** Format-independent entry points: detect the representation, parse, encode. */
import { decodeCbor, encodeCbor, parseCbor } from "./cbor.js";
import { senmlError } from "./errors.js";
import { decodeJson, encodeJson, parseJson, type ParseOptions } from "./json.js";
import { resolve, type ResolveOptions } from "./resolve.js";
import type { ResolvedRecord, SenmlFormat, SenmlPack, SenmlRecord } from "./types.js";
import { typedRecords } from "./validate.js";
import { decodeXml, encodeXml, parseXml } from "./xml.js";

/**
 * Guess the representation from the first significant byte: '[' JSON, '<' XML, a CBOR array
 * header (major type 4, 0x80–0x9f) CBOR. Undefined when none fits.
 */
export function detectFormat(input: Uint8Array): SenmlFormat | undefined {
  let i = 0;
  if (input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) i = 3; // UTF-8 BOM
  for (; i < input.length; i++) {
    const c = input[i]!;
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (c === 0x5b) return "json";
    if (c === 0x3c) return "xml";
    break;
  }
  const first = input[0];
  if (first !== undefined && first >= 0x80 && first <= 0x9f) return "cbor";
  return undefined;
}

/** Parse a pack in the given representation, or the detected one. */
export function parsePack(input: Uint8Array, format?: SenmlFormat, options?: ParseOptions): SenmlPack {
  const f = format ?? detectFormat(input);
  switch (f) {
    case "json":
      return parseJson(input, options);
    case "cbor":
      return parseCbor(input, options);
    case "xml":
      return parseXml(input, options);
    case undefined:
      throw senmlError(
        "RELAIS_ERR_SENML_SYNTAX",
        "The input is neither SenML JSON ('['), XML ('<') nor a CBOR array",
      );
  }
}

/** Encode in the given representation: JSON/XML as UTF-8 bytes, CBOR as is. */
export function encodePack(pack: readonly (SenmlRecord | ResolvedRecord)[], format: SenmlFormat): Uint8Array {
  switch (format) {
    case "json":
      return new TextEncoder().encode(encodeJson(pack));
    case "cbor":
      return encodeCbor(pack);
    case "xml":
      return new TextEncoder().encode(encodeXml(pack));
  }
}

/**
 * Parse, validate and resolve in one pass over the records: the same checks as parsePack followed
 * by resolve, without walking the pack twice. The fast path for received packs.
 */
export function resolveJson(
  input: string | Uint8Array,
  options: ResolveOptions & ParseOptions,
): ResolvedRecord[] {
  return resolve(typedRecords(decodeJson(input, options), "base64url"), options);
}

/** parsePack + resolve in one pass; the representation is detected when not given. */
export function resolveInput(
  input: Uint8Array,
  options: ResolveOptions & ParseOptions & { readonly format?: SenmlFormat | undefined },
): ResolvedRecord[] {
  const f = options.format ?? detectFormat(input);
  switch (f) {
    case "json":
      return resolveJson(input, options);
    case "cbor":
      return resolve(typedRecords(decodeCbor(input, options), "bytes"), options);
    case "xml":
      return resolve(typedRecords(decodeXml(input, options), "base64url"), options);
    case undefined:
      return resolve(parsePack(input), options); // throws the syntax error
  }
}
