/**
 * "Never twice at once": a job runs only while its lock is held. Two implementations:
 * an in-process mutex (memory stores, embedded PGlite: one process owns the database) and a
 * PostgreSQL transaction-scoped advisory lock (several instances sharing one server, R8).
 */
import { Mutex } from "../mutex.js";

export type LockResult<T> = { ran: true; value: T } | { ran: false };

export interface JobLock {
  /** Runs fn when no other holder (here or, for PostgreSQL, in another instance) runs `name`. */
  tryRun<T>(name: string, fn: () => Promise<T>): Promise<LockResult<T>>;
}

export class MemoryJobLock implements JobLock {
  private readonly mutexes = new Map<string, Mutex>();

  async tryRun<T>(name: string, fn: () => Promise<T>): Promise<LockResult<T>> {
    let m = this.mutexes.get(name);
    if (!m) {
      m = new Mutex();
      this.mutexes.set(name, m);
    }
    return m.tryRun(fn);
  }
}

/** The subset of the Database port (adapters/postgres) this lock needs, typed structurally. */
export interface TransactionRunner {
  transaction<R>(
    fn: (tx: {
      query(sql: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
    }) => Promise<R>,
  ): Promise<R>;
}

/** Stable 31-bit key of a job name (FNV-1a), namespaced so other advisory locks do not collide. */
export function advisoryKey(name: string): number {
  let h = 0x811c9dc5;
  for (const ch of `relais.job.${name}`) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

/**
 * pg_try_advisory_xact_lock in a transaction held open while the job runs: the lock is released
 * by COMMIT, or by the server when this instance dies (no stale lock after kill -9). The job's own
 * statements use other pool connections. Not for PGlite: its single connection would wait on itself.
 */
export class PgJobLock implements JobLock {
  private readonly local = new MemoryJobLock();

  constructor(private readonly db: TransactionRunner) {}

  async tryRun<T>(name: string, fn: () => Promise<T>): Promise<LockResult<T>> {
    const r = await this.local.tryRun(name, () =>
      this.db.transaction(async (tx): Promise<LockResult<T>> => {
        const { rows } = await tx.query("SELECT pg_try_advisory_xact_lock(1919251297, $1) AS locked", [
          advisoryKey(name),
        ]);
        if (rows[0]?.locked !== true) return { ran: false };
        return { ran: true, value: await fn() };
      }),
    );
    return r.ran ? r.value : { ran: false };
  }
}
