/** The embedded database: PGlite (PostgreSQL compiled to WASM), on disk or in memory. */
import { mkdirSync } from "node:fs";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { guarded, type Database, type Queryable, type QueryResult } from "./database.js";

function wrapQueryable(q: PGlite | Transaction): Queryable {
  return {
    query: <T>(sql: string, params: readonly unknown[] = []) =>
      guarded(async (): Promise<QueryResult<T>> => {
        const r = await q.query<T>(sql, [...params]);
        return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
      }),
    exec: (sql: string) =>
      guarded(async () => {
        await q.exec(sql);
      }),
  };
}

export class PgliteDatabase implements Database {
  readonly kind = "pglite" as const;
  private closed = false;
  private readonly q: Queryable;

  private constructor(private readonly pg: PGlite) {
    this.q = wrapQueryable(pg);
  }

  /** dataDir: a directory (created if missing); undefined: in memory (tests). */
  static async open(dataDir?: string): Promise<PgliteDatabase> {
    if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
    const pg = await guarded(() => (dataDir === undefined ? PGlite.create() : PGlite.create(dataDir)));
    return new PgliteDatabase(pg);
  }

  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    return this.q.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.q.exec(sql);
  }

  transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
    return guarded(() => this.pg.transaction((tx) => fn(wrapQueryable(tx))));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pg.close();
  }
}
