/**
 * Fetch Inbox (seed §3.2): apply pending Inbox rows to the local system on behalf of their user,
 * with the Outbox's retry rules: a retryable failure goes back to pending with backoff and is
 * dead-lettered after maxAttempts; a permanent refusal (unknown user, bad pack, records outside the
 * user's rights) marks the row rejected and is audited.
 */
import { RelaisError, isRelaisError } from "../../core/errors.js";
import type { Clock, Logger } from "../../core/ports.js";
import { retryDelay, type BackoffOptions } from "../backoff.js";
import type { FederationCounters } from "../counters.js";
import type { Directory } from "../directory.js";
import type { InboxApplier } from "../inbox-applier.js";
import { describeRejections } from "../local-system.js";
import { Mutex } from "../mutex.js";
import { recordsFromBody } from "../records.js";
import type { AuditLog, InboxMessage, InboxStore } from "../stores.js";

export interface InboxFetcherOptions {
  batchSize: number;
  maxAttempts: number;
  backoff: BackoffOptions;
  /**
   * Applied and rejected rows are deleted this long after (ms): the window in which a replay is
   * recognised by its (sender, id) (RELIABILITY S3); 0 keeps them.
   */
  retentionMs: number;
}

export const DEFAULT_INBOX_FETCHER_OPTIONS: InboxFetcherOptions = {
  batchSize: 200,
  maxAttempts: 20,
  backoff: { baseMs: 1_000, maxMs: 5 * 60_000 },
  retentionMs: 7 * 24 * 3600_000,
};

export interface FetchInboxReport {
  claimed: number;
  applied: number;
  rejected: number;
  retried: number;
  dead: number;
}

export interface InboxFetcherDeps {
  inbox: InboxStore;
  audit: AuditLog;
  directory: Directory;
  applier: InboxApplier;
  clock: Clock;
  logger: Logger;
  counters: FederationCounters;
  owner: string;
  options?: Partial<InboxFetcherOptions>;
  random?: () => number;
}

export class InboxFetcher {
  readonly options: InboxFetcherOptions;
  private readonly mutex = new Mutex();
  private stopping = false;

  constructor(private readonly deps: InboxFetcherDeps) {
    this.options = { ...DEFAULT_INBOX_FETCHER_OPTIONS, ...deps.options };
  }

  async run(): Promise<FetchInboxReport> {
    const report: FetchInboxReport = { claimed: 0, applied: 0, rejected: 0, retried: 0, dead: 0 };
    await this.mutex
      .run(async () => {
        while (!this.stopping) {
          const rows = await this.deps.inbox.claim(this.options.batchSize, this.deps.owner);
          if (rows.length === 0) break;
          report.claimed += rows.length;
          const done: Promise<number>[] = [];
          for (const row of rows) {
            const ok = await this.applyRow(row, report);
            if (ok) done.push(this.deps.applier.markApplied(row.id));
          }
          const marks = await Promise.allSettled(done);
          for (const m of marks) {
            if (m.status === "rejected") throw m.reason; // rows stay 'applying': released below / at restart
          }
          report.applied += done.length;
          if (rows.length < this.options.batchSize) break;
        }
      })
      .finally(async () => {
        // Anything this run claimed and did not settle (a throw above) goes back to pending.
        await this.deps.inbox.release({ owner: this.deps.owner }).catch(() => 0);
      });
    if (this.options.retentionMs > 0) {
      await this.deps.inbox.purgeDone(this.deps.clock.now() - this.options.retentionMs);
    }
    return report;
  }

  /** Startup: rows this instance left in 'applying' go back to pending (R4, R10). */
  async recover(): Promise<number> {
    return this.deps.inbox.release({ owner: this.deps.owner });
  }

  /** Accept work again after stop(). */
  resume(): void {
    this.stopping = false;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.mutex.run(async () => undefined);
  }

  /** True when the row was applied (to be marked); false when it was settled otherwise. */
  private async applyRow(row: InboxMessage, report: FetchInboxReport): Promise<boolean> {
    const { directory, inbox } = this.deps;
    try {
      const app = await directory.appByJid(row.senderJid);
      if (!app) throw new RelaisError("RELAIS_ERR_FED_UNKNOWN_SENDER", undefined, { from: row.senderJid });
      const records = recordsFromBody(row.body, row.receivedAt);
      const identity = await directory.inboundIdentity(app, row.federatedUser ?? undefined);
      const outcome = await this.deps.applier.apply(row.id, identity.principal, records);
      if (outcome.rejected.length > 0) {
        throw new RelaisError(
          "RELAIS_ERR_FED_FORBIDDEN_RECORD",
          describeRejections(outcome.rejected, records.length),
          {
            rejected: outcome.rejected.slice(0, 20),
            applied: outcome.applied,
          },
        );
      }
      return true;
    } catch (e) {
      const err = isRelaisError(e)
        ? e
        : new RelaisError("RELAIS_ERR_INTERNAL_BUG", String(e), {}, { cause: e });
      const text = `${err.code}: ${err.message}`;
      if (err.retryable) {
        const status = await inbox.fail(row.id, {
          error: text,
          nextAttemptAt:
            this.deps.clock.now() + retryDelay(row.attempts, this.options.backoff, this.deps.random),
          maxAttempts: this.options.maxAttempts,
        });
        if (status === "dead") report.dead++;
        else report.retried++;
        this.deps.logger.warn(
          { code: err.code, inboxId: row.id, status },
          "inbox row not applied; will retry",
        );
        return false;
      }
      await inbox.markRejected(row.id, text);
      this.deps.counters.rejected++;
      report.rejected++;
      await this.deps.audit
        .append({
          actor: row.senderJid,
          action: "federation.message.rejected",
          subject: row.messageId,
          outcome: err.code,
          details: { message: err.message, ...err.details, inboxId: row.id },
        })
        .catch((ae: unknown) => {
          this.deps.logger.error({ err: ae }, "could not audit a rejected inbox row");
        });
      return false;
    }
  }
}
