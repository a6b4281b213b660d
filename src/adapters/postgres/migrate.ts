/**
 * Numbered SQL migrations (migrations/NNNN_name.sql), applied in order, each in its own
 * transaction under a transaction-level advisory lock, recorded in schema_migrations.
 * Two processes migrating at once serialise on the lock; the second finds nothing to do.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { RelaisError, isRelaisError } from "../../core/errors.js";
import type { Logger } from "../../core/ports.js";
import { silentLogger } from "../../core/ports.js";
import type { Database } from "./database.js";

/**
 * The package's migrations folder. dist/ mirrors src/ (tsconfig.build.json: rootDir src), so
 * src/adapters/postgres and dist/adapters/postgres are both three levels below the package root.
 */
export function defaultMigrationsDir(): string {
  return fileURLToPath(new URL("../../../migrations", import.meta.url));
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** Arbitrary constant: the advisory lock key of Relais migrations. */
const MIGRATION_LOCK_KEY = 72_616_973; // "rais"

export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) continue;
    const sql = readFileSync(`${dir}/${file}`, "utf8");
    out.push({
      version: Number(m[1]),
      name: m[2] ?? file,
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
    });
  }
  const versions = out.map((m) => m.version);
  if (new Set(versions).size !== versions.length)
    throw new RelaisError("RELAIS_ERR_DB_MIGRATION", "two migration files share a number", { versions });
  return out;
}

export interface MigrationResult {
  applied: { version: number; name: string }[];
  current: number;
}

/** Apply every pending migration. Throws RELAIS_ERR_DB_MIGRATION (or DB_UNAVAILABLE, retryable). */
export async function migrate(
  db: Database,
  options: { dir?: string; logger?: Logger } = {},
): Promise<MigrationResult> {
  const logger = options.logger ?? silentLogger;
  const migrations = loadMigrations(options.dir);
  const applied: { version: number; name: string }[] = [];
  for (;;) {
    const step = await db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
      await tx.exec(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           checksum text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const done = await tx.query<{ version: unknown; checksum: string }>(
        "SELECT version, checksum FROM schema_migrations ORDER BY version",
      );
      const doneMap = new Map(done.rows.map((r) => [Number(r.version), r.checksum]));
      for (const m of migrations) {
        const sum = doneMap.get(m.version);
        if (sum !== undefined && sum !== m.checksum)
          throw new RelaisError(
            "RELAIS_ERR_DB_MIGRATION",
            `migration ${m.version} (${m.name}) was edited after it was applied`,
            { version: m.version },
          );
      }
      const next = migrations.find((m) => !doneMap.has(m.version));
      if (!next) return { next: null, current: Math.max(0, ...doneMap.keys()) };
      try {
        await tx.exec(next.sql);
      } catch (e) {
        if (isRelaisError(e) && e.retryable) throw e;
        throw new RelaisError(
          "RELAIS_ERR_DB_MIGRATION",
          `migration ${next.version} (${next.name}) failed: ${e instanceof Error ? e.message : String(e)}`,
          { version: next.version },
          { cause: e },
        );
      }
      await tx.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
        next.version,
        next.name,
        next.checksum,
      ]);
      return { next, current: next.version };
    });
    if (step.next === null) {
      if (applied.length > 0) logger.info({ applied, current: step.current }, "migrations applied");
      return { applied, current: step.current };
    }
    applied.push({ version: step.next.version, name: step.next.name });
  }
}
