/**
 * The Database port and the migrations on PGlite and on the PostgreSQL server: the same schema,
 * transactions, SQLSTATE classification from real errors, advisory-locked migrations, and a pg
 * pool that survives its connections being killed (RELIABILITY.md R5).
 */
import { mkdtempSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/adapters/postgres/database.js";
import { defaultMigrationsDir, loadMigrations, migrate } from "../../src/adapters/postgres/migrate.js";
import { PgDatabase } from "../../src/adapters/postgres/pg-database.js";
import { PgliteDatabase } from "../../src/adapters/postgres/pglite-database.js";
import { checkDatabaseUrl, openDatabase } from "../../src/adapters/postgres/open.js";
import { silentLogger } from "../../src/core/ports.js";
import { freshDatabase, type FreshDatabase } from "../support/postgres.js";

let lite: PgliteDatabase;
let fresh: FreshDatabase;
let server: PgDatabase;

beforeAll(async () => {
  lite = await PgliteDatabase.open();
  await migrate(lite);
  fresh = await freshDatabase();
  server = new PgDatabase(fresh.url);
});

afterAll(async () => {
  await lite.close();
  await server.close();
  await fresh.drop();
});

const COLUMNS_SQL = `
  SELECT table_name, column_name, data_type, is_nullable, column_default
  FROM information_schema.columns WHERE table_schema = 'public'
  ORDER BY table_name, column_name`;

const CONSTRAINTS_SQL = `
  SELECT conrelid::regclass::text AS tbl, conname, contype, pg_get_constraintdef(oid) AS def
  FROM pg_constraint
  -- PostgreSQL 18 (PGlite) also lists NOT NULL as constraints (contype n); columns compare those.
  WHERE connamespace = 'public'::regnamespace AND contype <> 'n' ORDER BY 1, 2`;

describe("schema", () => {
  it("is the same on PGlite and on PostgreSQL (columns, types, defaults, constraints, indexes)", async () => {
    const a = await lite.query(COLUMNS_SQL);
    const b = await server.query(COLUMNS_SQL);
    expect(a.rows.length).toBeGreaterThan(80);
    expect(a.rows).toEqual(b.rows);
    expect((await lite.query(CONSTRAINTS_SQL)).rows).toEqual((await server.query(CONSTRAINTS_SQL)).rows);
    const idx = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1";
    expect((await lite.query(idx)).rows).toEqual((await server.query(idx)).rows);
  });

  it("has every table of the seed model and the product", async () => {
    const r = await server.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    expect(r.rows.map((x) => x.tablename)).toEqual([
      "accounts",
      "api_tokens",
      "apps",
      "audit_log",
      "config",
      "consumers",
      "inbox",
      "outbox",
      "resource_values",
      "schema_migrations",
      "security_policy",
      "user_apps",
      "users",
    ]);
  });

  it("uses timestamptz for every time column", async () => {
    const r = await server.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'public' AND (column_name LIKE '%\\_at' OR column_name IN ('at', 'ts'))`,
    );
    expect(r.rows.length).toBeGreaterThan(15);
    for (const row of r.rows)
      expect(row, row.column_name).toMatchObject({ data_type: "timestamp with time zone" });
  });
});

describe.each([
  ["pglite", () => lite],
  ["postgres", () => server],
] as [string, () => Database][])("Database port (%s)", (name, get) => {
  it("runs parameterised statements and returns rows and counts", async () => {
    const db = get();
    const r = await db.query<{ a: number; b: string; c: unknown }>(
      "SELECT $1::int AS a, $2::text AS b, $3::jsonb AS c",
      [7, "x'; DROP TABLE apps; --", JSON.stringify({ k: [1] })],
    );
    expect(r.rows).toEqual([{ a: 7, b: "x'; DROP TABLE apps; --", c: { k: [1] } }]);
    await db.query("INSERT INTO config (key, value) VALUES ($1, $2::jsonb), ($3, $2::jsonb)", [
      `${name}-1`,
      "1",
      `${name}-2`,
    ]);
    const d = await db.query("DELETE FROM config WHERE key LIKE $1", [`${name}-%`]);
    expect(d.rowCount).toBe(2);
  });

  it("commits a transaction that resolves and rolls back one that throws", async () => {
    const db = get();
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO config (key, value) VALUES ($1, '1'::jsonb)", [`${name}-tx-ok`]);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO config (key, value) VALUES ($1, '1'::jsonb)", [`${name}-tx-bad`]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO config (key, value) VALUES ($1, '1'::jsonb)", [`${name}-tx-bad2`]);
        await tx.query("INSERT INTO config (key, value) VALUES ($1, '1'::jsonb)", [`${name}-tx-ok`]);
      }),
    ).rejects.toMatchObject({ code: "RELAIS_ERR_DB_CONFLICT" });
    const r = await db.query<{ key: string }>("SELECT key FROM config WHERE key LIKE $1 ORDER BY key", [
      `${name}-tx-%`,
    ]);
    expect(r.rows.map((x) => x.key)).toEqual([`${name}-tx-ok`]);
    await db.query("DELETE FROM config WHERE key LIKE $1", [`${name}-tx-%`]);
  });

  it("classifies real errors by SQLSTATE", async () => {
    const db = get();
    await db.query("INSERT INTO users (federated_id) VALUES ($1)", [`${name}-dup@x`]);
    await expect(
      db.query("INSERT INTO users (federated_id) VALUES ($1)", [`${name}-dup@x`]),
    ).rejects.toMatchObject({
      code: "RELAIS_ERR_DB_CONFLICT",
      retryable: false,
      details: { sqlstate: "23505", constraint: "users_federated_id_key" },
    });
    await expect(
      db.query("INSERT INTO user_apps (user_id, app_id) VALUES (999999, 999999)"),
    ).rejects.toMatchObject({ code: "RELAIS_ERR_DB_REFERENCE", details: { sqlstate: "23503" } });
    await expect(db.query("SELECT * FROM no_such_table")).rejects.toMatchObject({
      code: "RELAIS_ERR_DB_QUERY",
      details: { sqlstate: "42P01" },
    });
    await expect(
      db.query("INSERT INTO outbox (message_id, to_jid, body, status) VALUES ('m', 't', 'b', 'lost')"),
    ).rejects.toMatchObject({
      code: "RELAIS_ERR_DB_QUERY",
      details: { sqlstate: "23514" },
    });
    await db.query("DELETE FROM users WHERE federated_id = $1", [`${name}-dup@x`]);
  });

  it("re-running the migrations applies nothing", async () => {
    expect(await migrate(get())).toEqual({ applied: [], current: loadMigrations().at(-1)!.version });
  });

  it("refuses a migration edited after it was applied, and rolls back a failing one", async () => {
    const db = get();
    const dir = mkdtempSync(join(tmpdir(), "relais-mig-"));
    for (const m of loadMigrations()) {
      const file = `${String(m.version).padStart(4, "0")}_${m.name}.sql`;
      copyFileSync(join(defaultMigrationsDir(), file), join(dir, file));
    }
    writeFileSync(join(dir, "9998_ok.sql"), "CREATE TABLE probe_ok (id int);");
    writeFileSync(join(dir, "9999_bad.sql"), "CREATE TABLE probe_bad (id int); SELECT * FROM no_such_table;");
    await expect(migrate(db, { dir })).rejects.toMatchObject({ code: "RELAIS_ERR_DB_MIGRATION" });
    const t = await db.query<{ n: string }>(
      "SELECT string_agg(tablename, ',' ORDER BY tablename) AS n FROM pg_tables WHERE tablename LIKE 'probe_%'",
    );
    expect(t.rows[0]!.n).toBe("probe_ok"); // 9998 committed, 9999 rolled back
    writeFileSync(join(dir, "9998_ok.sql"), "CREATE TABLE probe_ok (id int, edited int);");
    await expect(migrate(db, { dir })).rejects.toMatchObject({
      code: "RELAIS_ERR_DB_MIGRATION",
      details: { version: 9998 },
    });
    await db.exec("DROP TABLE probe_ok; DELETE FROM schema_migrations WHERE version = 9998;");
  });
});

describe("migrations on a server", () => {
  it("two processes migrating an empty database at once apply each migration exactly once", async () => {
    const empty = await freshDatabase();
    const admin = new PgDatabase(empty.url);
    await admin.exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
    const a = new PgDatabase(empty.url);
    const b = new PgDatabase(empty.url);
    try {
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      expect([...ra.applied, ...rb.applied].map((m) => m.version)).toEqual(
        loadMigrations().map((m) => m.version),
      );
      const r = await admin.query<{ version: number }>("SELECT version FROM schema_migrations");
      expect(r.rows).toHaveLength(loadMigrations().length);
    } finally {
      await Promise.all([a.close(), b.close(), admin.close()]);
      await empty.drop();
    }
  });

  it("openDatabase rejects a malformed URL with RELAIS_ERR_DB_URL_INVALID", async () => {
    expect(() => {
      checkDatabaseUrl("mysql://h/db");
    }).toThrow(expect.objectContaining({ code: "RELAIS_ERR_DB_URL_INVALID" }) as Error);
    await expect(
      openDatabase({ databaseUrl: "not a url", dataDir: "." }, silentLogger),
    ).rejects.toMatchObject({
      code: "RELAIS_ERR_DB_URL_INVALID",
    });
  });

  it("reports an unreachable server as RELAIS_ERR_DB_UNAVAILABLE (retryable), and waits for it when asked", async () => {
    const url = "postgres://postgres@127.0.0.1:1/none";
    await expect(openDatabase({ databaseUrl: url, dataDir: "." }, silentLogger)).rejects.toMatchObject({
      code: "RELAIS_ERR_DB_UNAVAILABLE",
      retryable: true,
    });
    const ac = new AbortController();
    const started = Date.now();
    const waiting = openDatabase({ databaseUrl: url, dataDir: "." }, silentLogger, {
      waitForDatabase: { signal: ac.signal, maxDelayMs: 100 },
    });
    setTimeout(() => {
      ac.abort();
    }, 600);
    // Still retrying until aborted: it ends with the abort, not with the database error.
    await expect(waiting).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(ac.signal.aborted).toBe(true);
  });
});

describe("pg pool resilience", () => {
  it("survives its idle and busy connections being terminated by the server", async () => {
    const db = new PgDatabase(fresh.url, { max: 4, applicationName: "relais-resilience" });
    const killer = new pg.Client({ connectionString: fresh.url });
    await killer.connect();
    try {
      await Promise.all([1, 2, 3, 4].map(() => db.query("SELECT pg_sleep(0.05)")));
      // Idle clients: the server kills them (as on a restart); the pool must not crash the process.
      const killed = await killer.query(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'relais-resilience'",
      );
      expect(killed.rows[0].n).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 200));
      expect((await db.query<{ one: number }>("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      // A busy connection killed mid-transaction: retryable error, then the pool recovers.
      const inflight = db.transaction(async (tx) => {
        await tx.query("SELECT pg_sleep(2)");
      });
      // Watched before the kill: the rejection may arrive before the killer's own answer does.
      const rejected = expect(inflight).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_UNAVAILABLE",
        retryable: true,
      });
      await new Promise((r) => setTimeout(r, 300));
      await killer.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'relais-resilience' AND state = 'active'",
      );
      await rejected;
      expect((await db.query<{ one: number }>("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await killer.end();
      await db.close();
    }
  });
});
