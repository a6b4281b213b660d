/**
 * The declarative mapping engine shared by the HTTP and MQTT connectors: a JSON document (an API
 * answer, an MQTT payload) → resource updates. Two entry forms:
 *
 * - one value per entry: `{ "target": "provider/service/resource", "pointer": "/a/0/b" }` (RFC 6901
 *   JSON pointer) or `{ "target": …, "expression": "<JSONata>" }`, with optional `type`, `kind`,
 *   `unit`, `timestamp` (pointer or expression), `optional`;
 * - many values from one expression: `{ "records": "<JSONata returning [{target|provider,service,
 *   resource, value, timestamp?, unit?}]>" }` (for APIs that list hundreds of devices).
 *
 * Targets are templates: `{1}`, `{2}`… and `{#}` are MQTT wildcard captures, `{topic}` the topic.
 * Compilation reports every problem with its path; evaluation never throws: each failing entry
 * becomes a mapping error with a code, the other entries still produce their updates.
 */
import jsonata from "jsonata";
import type { ResourceKind } from "../core/ports.js";
import type { ResourceUpdate } from "./ports.js";

/** Value types, named as in the core model (core/model/value-types.ts); "object" is any JSON value. */
export type ValueType = "float" | "integer" | "string" | "boolean" | "object";
export const VALUE_TYPES: readonly ValueType[] = ["float", "integer", "string", "boolean", "object"];
export const RESOURCE_KINDS: readonly ResourceKind[] = ["SENSOR", "STATE_VARIABLE", "PROPERTY", "ACTION"];

export interface Selector {
  pointer?: string;
  expression?: string;
}

export interface ValueMapping extends Selector {
  target: string;
  type?: ValueType;
  kind?: ResourceKind;
  unit?: string;
  timestamp?: Selector;
  /** A missing value is not an error: the entry just produces nothing. */
  optional?: boolean;
}

export interface RecordsMapping {
  records: string;
  type?: ValueType;
  kind?: ResourceKind;
}

export type MappingEntry = ValueMapping | RecordsMapping;

export interface Problem {
  path: string;
  message: string;
}

export interface MappingError {
  /** The entry's target (or `records[i]`) that failed. */
  target: string;
  code: "RELAIS_ERR_CONNECTOR_MAPPING_FAILED";
  message: string;
}

export interface MappingResult {
  updates: ResourceUpdate[];
  errors: MappingError[];
}

/** Template variables: wildcard captures and the topic for MQTT, nothing for HTTP. */
export type TemplateVars = Readonly<Record<string, string>>;

// ---------------------------------------------------------------------------------------------
// JSON pointer (RFC 6901)
// ---------------------------------------------------------------------------------------------

const MISSING: unique symbol = Symbol("missing");

/** Splits a JSON pointer into reference tokens (RFC 6901 §3-4); throws on a malformed pointer. */
export function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`a JSON pointer starts with "/" (RFC 6901 §3)`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => {
      if (/~[^01]|~$/.test(t)) throw new Error(`invalid escape in "${t}" (RFC 6901 §3: only ~0 and ~1)`);
      return t.replace(/~1/g, "/").replace(/~0/g, "~");
    });
}

function resolvePointer(doc: unknown, tokens: readonly string[]): unknown {
  let cur: unknown = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(t)) return MISSING;
      const i = Number(t);
      if (i >= cur.length) return MISSING;
      cur = cur[i];
    } else if (cur !== null && typeof cur === "object") {
      if (!Object.hasOwn(cur, t)) return MISSING;
      cur = (cur as Record<string, unknown>)[t];
    } else {
      return MISSING;
    }
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

type CompiledSelector = (doc: unknown, vars: TemplateVars) => Promise<unknown>;

function compileSelector(sel: Selector, path: string, problems: Problem[]): CompiledSelector | null {
  const hasP = typeof sel.pointer === "string";
  const hasE = typeof sel.expression === "string";
  if (hasP === hasE) {
    problems.push({ path, message: "give exactly one of pointer (JSON pointer) or expression (JSONata)" });
    return null;
  }
  if (hasP) {
    try {
      const tokens = parsePointer(sel.pointer!);
      return async (doc) => resolvePointer(doc, tokens);
    } catch (e) {
      problems.push({ path: `${path}/pointer`, message: (e as Error).message });
      return null;
    }
  }
  try {
    const expr = jsonata(sel.expression!);
    return async (doc, vars) => {
      const out: unknown = await expr.evaluate(doc, {
        topic: vars.topic,
        wildcards: Object.keys(vars)
          .filter((k) => /^\d+$/.test(k))
          .map((k) => vars[k]),
      });
      return out === undefined ? MISSING : out;
    };
  } catch (e) {
    const err = e as { message?: string; position?: number };
    problems.push({
      path: `${path}/expression`,
      message: `JSONata: ${err.message ?? String(e)}${err.position !== undefined ? ` at ${err.position}` : ""}`,
    });
    return null;
  }
}

/** `{1}`, `{#}`, `{topic}` → values; unknown placeholders are a compile-time problem. */
export function fillTemplate(template: string, vars: TemplateVars, encode?: (s: string) => string): string {
  return template.replace(/\{([^{}]+)\}/g, (whole, name: string) => {
    const v = vars[name];
    if (v === undefined) return whole;
    return encode ? encode(v) : v;
  });
}

/** Splits `provider/service/resource`; null when it is not exactly three non-empty segments. */
export function splitTarget(target: string): [string, string, string] | null {
  const parts = target.split("/");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return null;
  return parts as [string, string, string];
}

function checkTargetTemplate(target: unknown, path: string, problems: Problem[]): target is string {
  if (typeof target !== "string" || target.length === 0) {
    problems.push({ path, message: 'expected "provider/service/resource"' });
    return false;
  }
  if (target.split("/").length !== 3 || target.split("/").some((p) => p.length === 0)) {
    problems.push({ path, message: `"${target}" is not "provider/service/resource"` });
    return false;
  }
  for (const m of target.matchAll(/\{([^{}]+)\}/g)) {
    const name = m[1]!;
    if (!/^(\d+|#|topic)$/.test(name))
      problems.push({ path, message: `unknown placeholder {${name}} (use {1}, {2}…, {#} or {topic})` });
  }
  return true;
}

/** Coerces a mapped value to the declared type; throws a message on mismatch. */
export function coerce(value: unknown, type: ValueType | undefined): unknown {
  switch (type) {
    case undefined:
      return value;
    case "object":
      return value;
    case "float": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n))
        throw new Error(`expected a number, got ${describe(value)}`);
      return n;
    }
    case "integer": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n))
        throw new Error(`expected an integer, got ${describe(value)}`);
      return n;
    }
    case "boolean":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === 1 || value === "1") return true;
      if (value === "false" || value === 0 || value === "0") return false;
      throw new Error(`expected a boolean, got ${describe(value)}`);
    case "string":
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      throw new Error(`expected a string, got ${describe(value)}`);
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `"${v.length > 40 ? v.slice(0, 40) + "…" : v}"`;
  if (typeof v === "object") return "an object";
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return `${typeof v} ${v}`;
  return typeof v;
}

/** Numbers are created as float: a first reading of 21 must not make 21.5 invalid later. */
function inferType(v: unknown): ValueType {
  if (typeof v === "number") return "float";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  return "object";
}

/** Numbers below 1e11 are seconds (SenML style), above are ms; strings are ISO 8601. */
export function toMillis(v: unknown): number {
  if (typeof v === "number" && Number.isFinite(v)) return v < 1e11 ? Math.round(v * 1000) : Math.round(v);
  if (typeof v === "string") {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  throw new Error(`timestamp: expected seconds, milliseconds or ISO 8601, got ${describe(v)}`);
}

interface CompiledEntry {
  run(doc: unknown, vars: TemplateVars, out: MappingResult): Promise<void>;
}

export interface CompiledMapping {
  readonly size: number;
  evaluate(doc: unknown, vars?: TemplateVars): Promise<MappingResult>;
}

/** Compiles mapping entries; returns the problems (with paths under `path`) instead when any. */
export function compileMapping(
  entries: unknown,
  path: string,
): { mapping: CompiledMapping; problems: [] } | { mapping: null; problems: Problem[] } {
  const problems: Problem[] = [];
  const compiled: CompiledEntry[] = [];
  if (!Array.isArray(entries) || entries.length === 0) {
    problems.push({ path, message: "expected a non-empty array of mapping entries" });
    return { mapping: null, problems };
  }
  entries.forEach((raw, i) => {
    const p = `${path}/${i}`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      problems.push({ path: p, message: "expected an object" });
      return;
    }
    const e = raw as Record<string, unknown>;
    const known = [
      "target",
      "pointer",
      "expression",
      "type",
      "kind",
      "unit",
      "timestamp",
      "optional",
      "records",
    ];
    for (const k of Object.keys(e))
      if (!known.includes(k)) problems.push({ path: `${p}/${k}`, message: "unknown key" });
    if (e.type !== undefined && !VALUE_TYPES.includes(e.type as ValueType))
      problems.push({ path: `${p}/type`, message: `expected one of ${VALUE_TYPES.join(", ")}` });
    if (e.kind !== undefined && !RESOURCE_KINDS.includes(e.kind as ResourceKind))
      problems.push({ path: `${p}/kind`, message: `expected one of ${RESOURCE_KINDS.join(", ")}` });
    const type = e.type as ValueType | undefined;
    const kind = e.kind as ResourceKind | undefined;
    if (e.records !== undefined) {
      if (typeof e.records !== "string") {
        problems.push({ path: `${p}/records`, message: "expected a JSONata expression" });
        return;
      }
      const sel = compileSelector({ expression: e.records }, p, problems);
      if (sel) compiled.push(recordsEntry(sel, `records[${i}]`, type, kind));
      return;
    }
    if (!checkTargetTemplate(e.target, `${p}/target`, problems)) return;
    if (e.unit !== undefined && typeof e.unit !== "string")
      problems.push({ path: `${p}/unit`, message: "expected a string" });
    if (e.optional !== undefined && typeof e.optional !== "boolean")
      problems.push({ path: `${p}/optional`, message: "expected true or false" });
    const value = compileSelector(e, p, problems);
    let ts: CompiledSelector | null = null;
    if (e.timestamp !== undefined) {
      if (e.timestamp === null || typeof e.timestamp !== "object") {
        problems.push({ path: `${p}/timestamp`, message: "expected { pointer } or { expression }" });
      } else {
        ts = compileSelector(e.timestamp, `${p}/timestamp`, problems);
        if (!ts) return;
      }
    }
    if (!value) return;
    compiled.push(
      valueEntry({
        target: e.target,
        value,
        ts,
        type,
        kind,
        unit: typeof e.unit === "string" ? e.unit : undefined,
        optional: e.optional === true,
      }),
    );
  });
  if (problems.length > 0) return { mapping: null, problems };
  return {
    mapping: {
      size: compiled.length,
      async evaluate(doc, vars = {}) {
        const out: MappingResult = { updates: [], errors: [] };
        for (const c of compiled) await c.run(doc, vars, out);
        return out;
      },
    },
    problems: [],
  };
}

function fail(out: MappingResult, target: string, message: string): void {
  out.errors.push({ target, code: "RELAIS_ERR_CONNECTOR_MAPPING_FAILED", message });
}

function valueEntry(o: {
  target: string;
  value: CompiledSelector;
  ts: CompiledSelector | null;
  type: ValueType | undefined;
  kind: ResourceKind | undefined;
  unit: string | undefined;
  optional: boolean;
}): CompiledEntry {
  return {
    async run(doc, vars, out) {
      const target = fillTemplate(o.target, vars);
      const parts = splitTarget(target);
      if (!parts) {
        fail(out, target, `"${target}" is not "provider/service/resource"`);
        return;
      }
      try {
        const raw = await o.value(doc, vars);
        if (raw === MISSING) {
          if (!o.optional) fail(out, target, "no value at the pointer/expression");
          return;
        }
        const value = coerce(raw, o.type);
        const u: ResourceUpdate = {
          provider: parts[0],
          service: parts[1],
          resource: parts[2],
          value,
          valueType: o.type ?? inferType(value),
        };
        if (o.kind) u.kind = o.kind;
        if (o.unit !== undefined) u.metadata = { unit: o.unit };
        if (o.ts) {
          const t = await o.ts(doc, vars);
          if (t !== MISSING) u.timestamp = toMillis(t);
        }
        out.updates.push(u);
      } catch (e) {
        fail(out, target, errorText(e));
      }
    },
  };
}

function recordsEntry(
  sel: CompiledSelector,
  label: string,
  type: ValueType | undefined,
  kind: ResourceKind | undefined,
): CompiledEntry {
  return {
    async run(doc, vars, out) {
      let raw: unknown;
      try {
        raw = await sel(doc, vars);
      } catch (e) {
        fail(out, label, errorText(e));
        return;
      }
      if (raw === MISSING) return;
      const list: unknown[] = Array.isArray(raw) ? raw : [raw];
      list.forEach((r, i) => {
        const where = `${label}[${i}]`;
        if (r === null || typeof r !== "object" || Array.isArray(r)) {
          fail(out, where, "a record must be an object {target, value}");
          return;
        }
        const rec = r as Record<string, unknown>;
        const target =
          typeof rec.target === "string"
            ? rec.target
            : [rec.provider, rec.service, rec.resource].every((x) => typeof x === "string")
              ? `${rec.provider as string}/${rec.service as string}/${rec.resource as string}`
              : null;
        const parts = target === null ? null : splitTarget(target);
        if (!parts) {
          fail(out, where, 'a record needs target "p/s/r" or provider, service, resource');
          return;
        }
        if (!Object.hasOwn(rec, "value") || rec.value === undefined) {
          fail(out, parts.join("/"), "a record needs a value");
          return;
        }
        try {
          const value = coerce(rec.value, type);
          const u: ResourceUpdate = {
            provider: parts[0],
            service: parts[1],
            resource: parts[2],
            value,
            valueType: type ?? inferType(value),
          };
          if (kind) u.kind = kind;
          if (typeof rec.unit === "string") u.metadata = { unit: rec.unit };
          if (rec.timestamp !== undefined) u.timestamp = toMillis(rec.timestamp);
          out.updates.push(u);
        } catch (e) {
          fail(out, parts.join("/"), errorText(e));
        }
      });
    },
  };
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e !== null && typeof e === "object" && "message" in e) return String(e.message);
  return String(e);
}
