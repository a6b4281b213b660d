/**
 * Mapping between SenML records and Relais resource updates. Pure and independent of the core
 * model: a record's full name (bn + n) is `provider/service/resource` (CONTRACTS §4), times are
 * seconds in SenML and milliseconds in Relais.
 */
import { decodeBase64url } from "./base64url.js";
import { senmlError } from "./errors.js";
import { encodeJsonRecord, utf8Length } from "./json.js";
import { badNameChar, isValidName } from "./names.js";
import { RELATIVE_TIME_LIMIT, type ResolvedRecord, type SenmlPack, type SenmlRecord } from "./types.js";

export interface ResourcePath {
  readonly provider: string;
  readonly service: string;
  readonly resource: string;
}

/** One resource value to send, or one received. */
export interface SenmlUpdate extends ResourcePath {
  readonly value: unknown;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly unit?: string;
  /** The resource's value type ('boolean', 'string', 'int', 'double', 'binary', 'object', …); inferred when absent. */
  readonly type?: string;
}

export type ValueField = { v: number } | { vs: string } | { vb: boolean } | { vd: Uint8Array };

/** Split a resolved name into provider/service/resource: exactly three non-empty segments. */
export function splitFullName(name: string, index?: number): ResourcePath {
  const parts = name.split("/");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    throw senmlError(
      "RELAIS_ERR_SENML_FULL_NAME",
      `${JSON.stringify(name)} is not provider/service/resource (three non-empty segments)`,
      index,
      index === undefined ? undefined : "n",
      { name },
    );
  }
  return { provider: parts[0]!, service: parts[1]!, resource: parts[2]! };
}

/** provider/service/resource, checked against the SenML name rules (RFC 8428 §4.5.1). */
export function joinFullName(path: ResourcePath, index?: number): string {
  const segments = [path.provider, path.service, path.resource];
  const name = segments.join("/");
  for (const seg of segments) {
    if (seg.length === 0 || seg.includes("/")) {
      throw senmlError(
        "RELAIS_ERR_SENML_FULL_NAME",
        `${JSON.stringify(name)} needs three non-empty segments without '/'`,
        index,
        undefined,
        { name },
      );
    }
  }
  if (!isValidName(name)) {
    throw senmlError(
      "RELAIS_ERR_SENML_NAME",
      `${JSON.stringify(name)} uses characters outside A-Z a-z 0-9 - : . / _ or does not start with a letter or digit`,
      index,
      undefined,
      { name, at: badNameChar(name) },
    );
  }
  return name;
}

const NUMBER_TYPES = new Set([
  "number",
  "int",
  "integer",
  "long",
  "short",
  "byte",
  "float",
  "double",
  "decimal",
]);
const JSON_TYPES = new Set(["object", "json", "array", "list", "map", "any"]);

function valueTypeError(message: string, index: number | undefined, type: string | undefined): never {
  throw senmlError(
    "RELAIS_ERR_SENML_VALUE_TYPE",
    message,
    index,
    undefined,
    type === undefined ? {} : { type },
  );
}

function jsonText(value: unknown, index: number | undefined, type: string | undefined): ValueField {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    return valueTypeError(`The value cannot be written as JSON: ${(e as Error).message}`, index, type);
  }
  if (text === undefined) return valueTypeError("The value cannot be written as JSON", index, type);
  return { vs: text };
}

/**
 * The SenML value field for a value of a given type: boolean → vb, string → vs, numbers → v,
 * binary/bytes → vd, objects/JSON → vs holding JSON text (RFC 8428 §4.2 has no structured value).
 */
export function valueField(value: unknown, type?: string, index?: number): ValueField {
  const t = type?.toLowerCase();
  if (t === undefined) {
    if (typeof value === "boolean") return { vb: value };
    if (typeof value === "string") return { vs: value };
    if (typeof value === "number") return valueField(value, "double", index);
    if (value instanceof Uint8Array) return { vd: value };
    return jsonText(value, index, type);
  }
  if (t === "boolean" || t === "bool") {
    if (typeof value !== "boolean") valueTypeError(`A ${type} value must be a boolean`, index, type);
    return { vb: value };
  }
  if (t === "string" || t === "text") {
    if (typeof value !== "string") valueTypeError(`A ${type} value must be a string`, index, type);
    return { vs: value };
  }
  if (NUMBER_TYPES.has(t)) {
    const n = typeof value === "bigint" ? Number(value) : value;
    if (typeof n !== "number" || !Number.isFinite(n))
      valueTypeError(`A ${type} value must be a finite number`, index, type);
    return { v: n };
  }
  if (t === "binary" || t === "bytes" || t === "byte[]") {
    if (value instanceof Uint8Array) return { vd: value };
    if (typeof value === "string") {
      const bytes = decodeBase64url(value);
      if (bytes !== undefined) return { vd: bytes };
    }
    return valueTypeError(`A ${type} value must be bytes or unpadded base64url text`, index, type);
  }
  if (JSON_TYPES.has(t)) return jsonText(value, index, type);
  return valueTypeError(`The value type ${JSON.stringify(type)} has no SenML value field`, index, type);
}

/** The value carried by a resolved record: number, string, boolean or bytes; undefined for a sum only. */
export function recordValue(
  r: ResolvedRecord | SenmlRecord,
): number | string | boolean | Uint8Array | undefined {
  return r.v ?? r.vs ?? r.vb ?? r.vd;
}

export interface ReceivedUpdate extends ResourcePath {
  readonly value: number | string | boolean | Uint8Array | undefined;
  readonly sum?: number;
  /** Milliseconds since the epoch (rounded). */
  readonly timestamp: number;
  readonly unit?: string;
}

/** A resolved record as a resource update (name split, seconds → milliseconds). */
export function toUpdate(r: ResolvedRecord, index?: number): ReceivedUpdate {
  const path = splitFullName(r.n, index);
  const out: { -readonly [K in keyof ReceivedUpdate]: ReceivedUpdate[K] } = {
    ...path,
    value: recordValue(r),
    timestamp: Math.round(r.t * 1000),
  };
  if (r.s !== undefined) out.sum = r.s;
  if (r.u !== undefined) out.unit = r.u;
  return out;
}

export interface PackOptions {
  /** Largest SenML JSON encoding of one pack, in bytes (CONTRACTS §4: 64 KiB). */
  readonly maxBytes?: number;
}

export const DEFAULT_MAX_PACK_BYTES = 64 * 1024;

interface Prepared {
  readonly prefix: string;
  readonly resource: string;
  readonly time: number;
  readonly unit: string | undefined;
  readonly value: ValueField;
}

function prepare(u: SenmlUpdate, index: number): Prepared {
  joinFullName(u, index);
  if (typeof u.timestamp !== "number" || !Number.isFinite(u.timestamp)) {
    throw senmlError("RELAIS_ERR_SENML_TIME", "The timestamp must be a finite number of milliseconds", index);
  }
  const time = u.timestamp / 1000;
  if (time < RELATIVE_TIME_LIMIT) {
    throw senmlError(
      "RELAIS_ERR_SENML_TIME",
      `The timestamp ${u.timestamp} ms reads as a relative SenML time`,
      index,
    );
  }
  return {
    prefix: `${u.provider}/${u.service}/`,
    resource: u.resource,
    time,
    unit: u.unit,
    value: valueField(u.value, u.type, index),
  };
}

/**
 * Writes records into packs with the base fields of RFC 8428 §4.1 where they save bytes: bn per
 * provider/service run, bt re-based when a relative t would be longer, bu when every record has a
 * unit. A new pack starts with fresh base state, so every pack resolves on its own.
 */
class PackWriter {
  readonly packs: SenmlPack[] = [];
  private pack: SenmlRecord[] = [];
  private bytes = 2; // "[" and "]"
  private bn: string | undefined;
  private bt: number | undefined;
  private bu: string | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly useBu: boolean,
  ) {}

  private record(
    p: Prepared,
    next: Prepared | undefined,
  ): { rec: SenmlRecord; bt: number; bu: string | undefined } {
    const rec: SenmlRecord = {};
    if (this.bn !== p.prefix) rec.bn = p.prefix;
    let bt = this.bt;
    if (bt === undefined) {
      rec.bt = p.time;
      bt = p.time;
    } else if (p.time !== bt) {
      const d = p.time - bt;
      // Exact by Sterbenz's lemma for times of one era; checked anyway.
      if (bt + d === p.time && String(d).length + 4 <= String(p.time).length + 5) rec.t = d;
      else {
        rec.bt = p.time;
        bt = p.time;
      }
    }
    let bu = this.bu;
    if (p.unit !== undefined && p.unit !== bu) {
      if (this.useBu && next?.unit === p.unit) {
        rec.bu = p.unit;
        bu = p.unit;
      } else rec.u = p.unit;
    }
    rec.n = p.resource;
    Object.assign(rec, p.value);
    return { rec, bt, bu };
  }

  add(p: Prepared, next: Prepared | undefined, index: number): void {
    let { rec, bt, bu } = this.record(p, next);
    let size = utf8Length(encodeJsonRecord(rec, index));
    if (this.pack.length > 0 && this.bytes + 1 + size > this.maxBytes) {
      this.flush();
      ({ rec, bt, bu } = this.record(p, next));
      size = utf8Length(encodeJsonRecord(rec, index));
    }
    if (this.pack.length === 0 && 2 + size > this.maxBytes) {
      throw senmlError(
        "RELAIS_ERR_SENML_RECORD_TOO_LARGE",
        `The record needs ${2 + size} bytes as a pack, more than the limit of ${this.maxBytes}`,
        index,
        undefined,
        { bytes: 2 + size, maxBytes: this.maxBytes },
      );
    }
    this.bytes += (this.pack.length > 0 ? 1 : 0) + size;
    this.pack.push(rec);
    this.bn = p.prefix;
    this.bt = bt;
    this.bu = bu;
  }

  flush(): void {
    if (this.pack.length > 0) this.packs.push(this.pack);
    this.pack = [];
    this.bytes = 2;
    this.bn = undefined;
    this.bt = undefined;
    this.bu = undefined;
  }
}

/**
 * Pack updates into as few, as compact SenML packs as fit under `maxBytes` (JSON encoding), in
 * the given order. An update that cannot fit alone is RELAIS_ERR_SENML_RECORD_TOO_LARGE.
 */
export function packUpdates(updates: readonly SenmlUpdate[], options: PackOptions = {}): SenmlPack[] {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PACK_BYTES;
  const prepared = updates.map((u, i) => prepare(u, i));
  const useBu = prepared.length > 1 && prepared.every((p) => p.unit !== undefined);
  const writer = new PackWriter(maxBytes, useBu);
  for (let i = 0; i < prepared.length; i++) writer.add(prepared[i]!, prepared[i + 1], i);
  writer.flush();
  return writer.packs;
}

/** All updates in one compact pack (no size limit). */
export function buildPack(updates: readonly SenmlUpdate[]): SenmlPack {
  if (updates.length === 0) {
    throw senmlError("RELAIS_ERR_SENML_NOT_A_PACK", "A SenML pack has at least one record");
  }
  return packUpdates(updates, { maxBytes: Number.POSITIVE_INFINITY })[0]!;
}
