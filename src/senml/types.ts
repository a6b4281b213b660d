/**
 * SenML data model (RFC 8428 §4): a pack is an array of records; base fields (§4.1) apply to the
 * record that carries them and to every later record until set again; regular fields (§4.2) apply
 * to their own record only. Binary data values are carried as bytes whatever the representation.
 */

/** One SenML record as written on the wire, after validation (unknown non-`_` fields dropped, §4.4). */
export interface SenmlRecord {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bs?: number;
  bver?: number;
  n?: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  s?: number;
  t?: number;
  ut?: number;
}

export type SenmlPack = SenmlRecord[];

/** A resolved record (RFC 8428 §4.6): no base fields (bver only when ≠ 10), absolute time, full name. */
export interface ResolvedRecord {
  n: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  s?: number;
  t: number;
  ut?: number;
  bver?: number;
}

export type SenmlFormat = "json" | "cbor" | "xml";

/** The version defined by RFC 8428 (§4.4): the default, and the highest this codec understands. */
export const SENML_VERSION = 10;

/** Times below 2^28 s are relative to "now" (RFC 8428 §4.5.3). */
export const RELATIVE_TIME_LIMIT = 2 ** 28;

/** Media types (RFC 8428 §12.3): SenML packs and SensML streams. */
export const MEDIA_TYPES = {
  json: "application/senml+json",
  cbor: "application/senml+cbor",
  xml: "application/senml+xml",
  sensmlJson: "application/sensml+json",
  sensmlCbor: "application/sensml+cbor",
  sensmlXml: "application/sensml+xml",
} as const;

/** Label order used when encoding (base fields first, as in the RFC 8428 examples). */
export const LABELS = [
  "bn",
  "bt",
  "bu",
  "bv",
  "bs",
  "bver",
  "n",
  "u",
  "v",
  "vs",
  "vb",
  "vd",
  "s",
  "t",
  "ut",
] as const;

export type Label = (typeof LABELS)[number];

/** CBOR integer map keys (RFC 8428 §6, Table 6). */
export const CBOR_LABELS: Readonly<Record<Label, number>> = {
  bver: -1,
  bn: -2,
  bt: -3,
  bu: -4,
  bv: -5,
  bs: -16,
  n: 0,
  u: 1,
  v: 2,
  vs: 3,
  vb: 4,
  s: 5,
  t: 6,
  ut: 7,
  vd: 8,
};
