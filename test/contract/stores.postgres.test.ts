/** Store contracts on the PostgreSQL server: a fresh database for this file, emptied before each test. */
import { afterAll, beforeAll } from "vitest";
import { PgDatabase } from "../../src/adapters/postgres/pg-database.js";
import { createPgStores } from "../../src/adapters/postgres/pg-stores.js";
import { PgSecurityStore } from "../../src/adapters/postgres/security-store.js";
import { PgValueStore } from "../../src/adapters/postgres/value-store.js";
import { freshDatabase, truncateAll, type FreshDatabase } from "../support/postgres.js";
import { allStoreContracts } from "./suites/all.js";

let fresh: FreshDatabase;
let db: PgDatabase;
let second: PgDatabase;

beforeAll(async () => {
  fresh = await freshDatabase();
  db = new PgDatabase(fresh.url);
  // An independent pool: claims and inserts from "another instance" (RELIABILITY.md R8).
  second = new PgDatabase(fresh.url);
});

afterAll(async () => {
  await db.close();
  await second.close();
  await fresh.drop();
});

allStoreContracts({
  name: "postgres",
  async stores(cipher, clock, options) {
    if (!options?.keepData) await truncateAll(db);
    return createPgStores(db, cipher, clock);
  },
  async values() {
    await truncateAll(db);
    return new PgValueStore(db);
  },
  async security() {
    await truncateAll(db);
    return new PgSecurityStore(db);
  },
  async concurrent(cipher, clock) {
    return createPgStores(second, cipher, clock);
  },
});
