/**
 * The one Database port of Relais (STYLE.md: a tiny port, all SQL in this folder).
 * Two implementations: PGlite (embedded) and a `pg` Pool (PostgreSQL server).
 * Every infrastructure error leaves this folder as a RelaisError classified by SQLSTATE or
 * driver error code, never by message text.
 */
import { RelaisError, isRelaisError, type ErrorCode } from "../../core/errors.js";

export interface QueryResult<T> {
  rows: T[];
  /** Rows returned by a SELECT or changed by INSERT/UPDATE/DELETE. */
  rowCount: number;
}

/** What a statement runs on: the database itself or an open transaction. */
export interface Queryable {
  /** One parameterised statement ($1, $2…). Values are never spliced into the SQL text. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** A parameterless multi-statement script (migrations only). */
  exec(sql: string): Promise<void>;
}

export type DatabaseKind = "pglite" | "postgres";

export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /** Runs fn in one transaction: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** SQLSTATE classes and codes after which trying again can succeed. */
const RETRYABLE_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "55P03", // lock_not_available
]);

/** Node / driver error codes of a broken or refused connection. */
const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOENT", // unix socket missing
]);

function errorCode(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

const isSqlState = (code: string | undefined): code is string =>
  code !== undefined && /^[0-9A-Z]{5}$/.test(code);

/** The catalogue code for a driver error (exported for tests). */
export function classifyDbError(e: unknown): ErrorCode {
  const code = errorCode(e);
  if (isSqlState(code)) {
    if (code === "23505") return "RELAIS_ERR_DB_CONFLICT";
    // 23503 foreign_key_violation; 23001 restrict_violation (ON DELETE RESTRICT since PostgreSQL 16).
    if (code === "23503" || code === "23001") return "RELAIS_ERR_DB_REFERENCE";
    if (RETRYABLE_SQLSTATES.has(code) || code.startsWith("08")) return "RELAIS_ERR_DB_UNAVAILABLE";
    return "RELAIS_ERR_DB_QUERY";
  }
  if (code !== undefined && CONNECTION_ERROR_CODES.has(code)) return "RELAIS_ERR_DB_UNAVAILABLE";
  // No SQLSTATE: the driver lost or could not open its connection (pg reports "connection
  // terminated" and connect timeouts without a code), or the embedded database is closed.
  return "RELAIS_ERR_DB_UNAVAILABLE";
}

/** Wrap a driver error; RelaisErrors and programmer errors pass through unchanged. */
export function wrapDbError(e: unknown): unknown {
  if (isRelaisError(e)) return e;
  if (e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError) return e;
  const code = classifyDbError(e);
  const sqlstate = errorCode(e);
  const details: Record<string, unknown> = {};
  if (sqlstate !== undefined) details.sqlstate = sqlstate;
  const constraint = (e as { constraint?: unknown } | null)?.constraint;
  if (typeof constraint === "string") details.constraint = constraint;
  const reason = e instanceof Error ? e.message : String(e);
  return new RelaisError(code, `${messageFor(code)} (${reason})`, details, { cause: e });
}

function messageFor(code: ErrorCode): string {
  switch (code) {
    case "RELAIS_ERR_DB_CONFLICT":
      return "The record already exists";
    case "RELAIS_ERR_DB_REFERENCE":
      return "The record refers to a missing record";
    case "RELAIS_ERR_DB_UNAVAILABLE":
      return "The database cannot be reached";
    default:
      return "A database statement failed";
  }
}

/** Run fn and rethrow any driver error wrapped. */
export async function guarded<R>(fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    throw wrapDbError(e);
  }
}
