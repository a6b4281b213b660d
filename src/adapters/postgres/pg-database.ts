/**
 * PostgreSQL server through a `pg` Pool. The pool survives a server restart: errors on idle
 * clients are logged (never thrown: an unhandled 'error' event would crash the process), broken
 * clients are discarded, and the next query opens a new connection (RELIABILITY.md R5, R6).
 */
import pg from "pg";
import type { Logger } from "../../core/ports.js";
import { silentLogger } from "../../core/ports.js";
import { guarded, wrapDbError, type Database, type Queryable, type QueryResult } from "./database.js";

export interface PgDatabaseOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Give up opening a connection after this many ms (default 5000): callers retry. */
  connectionTimeoutMillis?: number;
  logger?: Logger;
  applicationName?: string;
}

function wrapClient(c: pg.PoolClient | pg.Pool): Queryable {
  return {
    query: <T>(sql: string, params: readonly unknown[] = []) =>
      guarded(async (): Promise<QueryResult<T>> => {
        const r = await c.query(sql, [...params]);
        return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
      }),
    exec: (sql: string) =>
      guarded(async () => {
        // No parameters: the simple query protocol, which accepts several statements.
        await c.query(sql);
      }),
  };
}

export class PgDatabase implements Database {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;
  private readonly q: Queryable;
  private closing: Promise<void> | null = null;

  constructor(url: string, options: PgDatabaseOptions = {}) {
    const logger = options.logger ?? silentLogger;
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
      idleTimeoutMillis: 30_000,
      application_name: options.applicationName ?? "relais",
      keepAlive: true,
    });
    // An idle client lost its connection (server restart, pg_terminate_backend): the pool
    // already removed it; log and carry on.
    this.pool.on("error", (e) => {
      const w = wrapDbError(e);
      logger.warn({ code: (w as { code?: unknown }).code, err: String(e) }, "postgres idle client error");
    });
    this.q = wrapClient(this.pool);
  }

  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    return this.q.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.q.exec(sql);
  }

  async transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
    const client = await guarded(() => this.pool.connect());
    // A client that errors while checked out must not crash the process either.
    const onError = (): void => undefined;
    client.on("error", onError);
    let broken: Error | undefined;
    try {
      await guarded(() => client.query("BEGIN"));
      const result = await fn(wrapClient(client));
      await guarded(() => client.query("COMMIT"));
      return result;
    } catch (e) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackError) {
        // The connection is gone: do not return it to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw wrapDbError(e);
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }
}
