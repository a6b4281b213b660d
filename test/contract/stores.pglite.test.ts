/** Store contracts on PGlite: one in-memory instance for the whole file, emptied before each test. */
import { afterAll, beforeAll } from "vitest";
import { PgliteDatabase } from "../../src/adapters/postgres/pglite-database.js";
import { migrate } from "../../src/adapters/postgres/migrate.js";
import { createPgStores } from "../../src/adapters/postgres/pg-stores.js";
import { PgSecurityStore } from "../../src/adapters/postgres/security-store.js";
import { PgValueStore } from "../../src/adapters/postgres/value-store.js";
import { truncateAll } from "../support/postgres.js";
import { allStoreContracts } from "./suites/all.js";

let db: PgliteDatabase;

beforeAll(async () => {
  db = await PgliteDatabase.open();
  await migrate(db);
});

afterAll(async () => {
  await db.close();
});

allStoreContracts({
  name: "pglite",
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
});
