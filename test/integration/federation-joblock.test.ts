/**
 * "Never twice at once across instances" (RELIABILITY.md R8): two PgJobLocks on two connection
 * pools to one PostgreSQL database, as two gateway instances would hold them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgDatabase } from "../../src/adapters/postgres/pg-database.js";
import { PgJobLock } from "../../src/federation/jobs/job-lock.js";
import { freshDatabase, type FreshDatabase } from "../support/postgres.js";

let fresh: FreshDatabase;
let db1: PgDatabase;
let db2: PgDatabase;

beforeAll(async () => {
  fresh = await freshDatabase();
  db1 = new PgDatabase(fresh.url, { max: 3 });
  db2 = new PgDatabase(fresh.url, { max: 3 });
});
afterAll(async () => {
  await db1.close();
  await db2.close();
  await fresh.drop();
});

describe("PgJobLock", () => {
  it("lets one instance run a job while the other's tick is skipped; other jobs run", async () => {
    const one = new PgJobLock(db1);
    const two = new PgJobLock(db2);
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const first = one.tryRun("fetch-outbox", async () => {
      started();
      await new Promise<void>((r) => (release = r));
      return "first";
    });
    await running;
    expect(await two.tryRun("fetch-outbox", async () => "second")).toEqual({ ran: false });
    expect(await one.tryRun("fetch-outbox", async () => "again")).toEqual({ ran: false });
    expect(await two.tryRun("push-outbox", async () => "other")).toEqual({ ran: true, value: "other" });
    release();
    expect(await first).toEqual({ ran: true, value: "first" });
    expect(await two.tryRun("fetch-outbox", async () => "after")).toEqual({ ran: true, value: "after" });
  });

  it("frees the lock when the holder's connection dies (kill -9 of an instance)", async () => {
    const victim = new PgDatabase(fresh.url, { max: 1 });
    const lock = new PgJobLock(victim);
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const held = lock
      .tryRun("fetch-inbox", async () => {
        started();
        await new Promise((r) => setTimeout(r, 3_000));
        return "never";
      })
      .catch(() => "died");
    await running;
    expect(await new PgJobLock(db2).tryRun("fetch-inbox", async () => 1)).toEqual({ ran: false });
    // the server ends the victim's session: its transaction, and the advisory lock, go with it
    await db1.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_try_advisory_xact_lock%'",
    );
    let r: unknown;
    for (let i = 0; i < 50; i++) {
      r = await new PgJobLock(db2).tryRun("fetch-inbox", async () => 2);
      if ((r as { ran: boolean }).ran) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(r).toEqual({ ran: true, value: 2 });
    expect(await held).toBe("died"); // its COMMIT fails: the connection is gone
    await victim.close().catch(() => undefined);
  });
});
