/**
 * Value types of resources and metadata, and their checks.
 * JSON is the wire form of every value: binary is base64, timestamp is ms since the epoch,
 * geojson is an RFC 7946 object.
 */
import { RelaisError } from "../errors.js";

export const VALUE_TYPES = [
  "boolean",
  "integer",
  "float",
  "string",
  "object",
  "binary",
  "timestamp",
  "geojson",
] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

export function isValueType(t: unknown): t is ValueType {
  return typeof t === "string" && (VALUE_TYPES as readonly string[]).includes(t);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const GEOJSON_TYPES = new Set([
  "Point",
  "MultiPoint",
  "LineString",
  "MultiLineString",
  "Polygon",
  "MultiPolygon",
  "GeometryCollection",
  "Feature",
  "FeatureCollection",
]);

function isJsonValue(v: unknown, depth = 0): boolean {
  if (depth > 32) return false;
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isJsonValue(x, depth + 1));
  if (typeof v === "object") {
    return Object.values(v as Record<string, unknown>).every((x) => isJsonValue(x, depth + 1));
  }
  return false;
}

function isGeoJson(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.type !== "string" || !GEOJSON_TYPES.has(o.type)) return false;
  if (o.type === "Point") {
    const c = o.coordinates;
    return (
      Array.isArray(c) &&
      c.length >= 2 &&
      c.length <= 3 &&
      c.every((x) => typeof x === "number" && Number.isFinite(x))
    );
  }
  return isJsonValue(v);
}

/** True when `value` is a valid value of `type`; null is valid for every type (no value). */
export function matchesType(type: ValueType, value: unknown): boolean {
  if (value === null) return true;
  switch (type) {
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return typeof value === "number" && Number.isSafeInteger(value);
    case "float":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "object":
      return isJsonValue(value);
    case "binary":
      return typeof value === "string" && BASE64.test(value);
    case "timestamp":
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
    case "geojson":
      return isGeoJson(value);
  }
}

export function assertType(type: ValueType, value: unknown, uri?: string): void {
  if (!matchesType(type, value)) {
    throw new RelaisError(
      "RELAIS_ERR_ACCESS_TYPE_MISMATCH",
      `Expected a ${type} value${uri === undefined ? "" : ` for ${uri}`}`,
      uri === undefined ? { expected: type } : { expected: type, uri },
    );
  }
}

/** The type a value of unknown origin most likely has (data-first creation). */
export function inferType(value: unknown): ValueType {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return "float";
  if (typeof value === "string") return "string";
  if (isGeoJson(value)) return "geojson";
  return "object";
}
