/**
 * Conversions between SQL rows and store types. pg returns int8 as strings, bytea as Buffer;
 * PGlite returns numbers and Uint8Array: both go through these helpers.
 * Values always travel as parameters; JSON goes as text cast to jsonb (never a JS array, which pg
 * would turn into a PostgreSQL array).
 */
export const num = (v: unknown): number => Number(v);

export const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function ms(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  return new Date(String(v)).getTime();
}

export const optMs = (v: unknown): number | null => (v === null || v === undefined ? null : ms(v));

/** A timestamp parameter (cast with ::timestamptz in SQL). */
export const ts = (millis: number): string => new Date(millis).toISOString();

/** A jsonb parameter (cast with ::jsonb in SQL); undefined and null become SQL NULL. */
export const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

export const str = (v: string | null | undefined): string | null => v ?? null;

export function bytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new TypeError("expected bytea");
}

export const clampLimit = (limit: number | undefined, max = 1000): number =>
  Math.max(1, Math.min(max, Math.floor(limit ?? 100)));

/** status filter → JSON array text or null (no filter). */
export function statusFilter(status: string | readonly string[] | undefined): string | null {
  if (status === undefined) return null;
  return JSON.stringify(typeof status === "string" ? [status] : status);
}
