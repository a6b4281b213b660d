/**
 * Open the configured database and bring its schema up to date: the one entry point used by
 * `relais start`, `relais migrate` and every admin command.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { RelaisError, isRelaisError } from "../../core/errors.js";
import type { Clock, Logger } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { CredentialCipher } from "../../federation/stores.js";
import type { Database } from "./database.js";
import { migrate, type MigrationResult } from "./migrate.js";
import { PgDatabase } from "./pg-database.js";
import { PgliteDatabase } from "./pglite-database.js";
import { createPgStores, type PgStores } from "./pg-stores.js";

export interface OpenDatabaseOptions {
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  migrationsDir?: string;
  /**
   * Keep retrying while the server is unreachable (RELIABILITY.md R6: start while PostgreSQL is
   * down, become ready without a restart). Without it, the first failure is thrown.
   */
  waitForDatabase?: { signal?: AbortSignal; maxDelayMs?: number };
  /** Called with each migration result (e.g. to print it). */
  onMigrated?: (result: MigrationResult) => void;
}

/** The PGlite data directory inside RELAIS_DATA_DIR. */
export const embeddedDatabaseDir = (dataDir: string): string => join(dataDir, "pgdata");

/** Throws RELAIS_ERR_DB_URL_INVALID for anything but postgres://host… */
export function checkDatabaseUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RelaisError("RELAIS_ERR_DB_URL_INVALID");
  }
  if ((u.protocol !== "postgres:" && u.protocol !== "postgresql:") || u.hostname === "")
    throw new RelaisError("RELAIS_ERR_DB_URL_INVALID");
}

export async function openDatabase(
  config: { databaseUrl: string | null; dataDir: string },
  logger: Logger,
  options: OpenDatabaseOptions = {},
): Promise<Database> {
  const db = await createDatabase(config, logger);
  if (options.migrate === false) return db;
  try {
    await prepareDatabase(db, logger, options);
    return db;
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

/**
 * The configured database, not yet used: a PostgreSQL pool connects on its first statement (so
 * this succeeds while the server is down, R6); the embedded database opens its files.
 */
export async function createDatabase(
  config: { databaseUrl: string | null; dataDir: string },
  logger: Logger,
): Promise<Database> {
  if (config.databaseUrl !== null) {
    checkDatabaseUrl(config.databaseUrl);
    return new PgDatabase(config.databaseUrl, { logger });
  }
  return PgliteDatabase.open(embeddedDatabaseDir(config.dataDir));
}

/**
 * Brings the schema up to date, waiting for the server with `waitForDatabase` (retryable errors
 * only; each one is reported to `onWaiting`). Leaves the database open either way.
 */
export async function prepareDatabase(
  db: Database,
  logger: Logger,
  options: Omit<OpenDatabaseOptions, "migrate"> & { onWaiting?: (e: RelaisError) => void } = {},
): Promise<void> {
  let delay = 250;
  for (;;) {
    try {
      const result = await migrate(db, {
        logger,
        ...(options.migrationsDir === undefined ? {} : { dir: options.migrationsDir }),
      });
      options.onMigrated?.(result);
      return;
    } catch (e) {
      const wait = options.waitForDatabase;
      if (!wait || !isRelaisError(e) || !e.retryable || wait.signal?.aborted) throw e;
      options.onWaiting?.(e);
      logger.warn({ code: e.code, retryInMs: delay }, "database not reachable yet; retrying");
      await sleep(delay, undefined, wait.signal ? { signal: wait.signal } : {});
      delay = Math.min(delay * 2, wait.maxDelayMs ?? 5000);
    }
  }
}

/**
 * Every store over an open database, after checking that the credential key opens every stored
 * credential: a wrong key throws RELAIS_ERR_SECRET_KEY_WRONG (refuse to start, RELIABILITY.md S8).
 */
export async function openStores(
  db: Database,
  cipher: CredentialCipher,
  clock: Clock = systemClock,
): Promise<PgStores> {
  const stores = createPgStores(db, cipher, clock);
  await stores.userApps.verifyKey();
  return stores;
}
