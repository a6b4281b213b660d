/**
 * Applying Inbox rows to the local system, shared by the real-time path (federation events) and
 * Fetch Inbox. One apply per row at a time in this process (a row the job claims while the
 * real-time path applies it waits for that apply), every apply idempotent (LocalSystem.apply), and a
 * row is marked applied only after the values are durable in the ValueStore (Gateway.flush), in
 * batches: a crash before the mark leaves the row pending and it is applied again, changing nothing
 * already applied (RELIABILITY.md R4).
 */
import type { Logger } from "../core/ports.js";
import type { Principal } from "../core/security/principal.js";
import { Batcher } from "./batcher.js";
import type { FederationCounters } from "./counters.js";
import type { ApplyOutcome, LocalSystem } from "./local-system.js";
import type { FederatedRecord } from "./records.js";
import type { InboxStore } from "./stores.js";

export class InboxApplier {
  private readonly inFlight = new Map<number, Promise<unknown>>();
  private readonly marks: Batcher<number, number>;

  constructor(
    private readonly local: LocalSystem,
    private readonly inbox: InboxStore,
    private readonly counters: FederationCounters,
    private readonly logger: Logger,
  ) {
    this.marks = new Batcher(async (ids) => {
      await this.local.flush();
      await this.inbox.markApplied(ids);
      return ids.map(() => 1);
    });
  }

  /** Applies a row's records (after any apply of the same row still running here). */
  async apply(
    rowId: number,
    principal: Principal,
    records: readonly FederatedRecord[],
  ): Promise<ApplyOutcome> {
    const before = this.inFlight.get(rowId) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.local.apply(principal, records));
    this.inFlight.set(rowId, run);
    try {
      const outcome = await run;
      this.counters.recordsApplied += outcome.applied;
      this.counters.recordsSkipped += outcome.skipped;
      this.counters.recordsRejected += outcome.rejected.length;
      return outcome;
    } finally {
      if (this.inFlight.get(rowId) === run) this.inFlight.delete(rowId);
    }
  }

  /** Durable, then marked applied (batched). Resolves when the mark is committed. */
  markApplied(rowId: number): Promise<number> {
    return this.marks.push(rowId);
  }

  /** Fire-and-forget variant for the real-time path: a failure leaves the row pending (re-applied later, idempotently). */
  markAppliedLater(rowId: number): void {
    this.marks.push(rowId).catch((e: unknown) => {
      this.logger.warn({ err: e, inboxId: rowId }, "could not mark an inbox row applied; Fetch Inbox will");
    });
  }

  async idle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
    await this.marks.idle();
  }
}
