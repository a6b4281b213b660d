/**
 * Fetch Outbox (seed §3.2): claim due rows, send them with their stable id, mark them sent, and
 * mark them delivered when the receiving gateway's XEP-0184 receipt arrives. Unconfirmed rows are
 * resent (same id) after a timeout with exponential backoff and jitter; a permanent rejection, an
 * oversize pack or exhausted attempts dead-letter the row (RELIABILITY.md R9). The Outbox stays the
 * source of truth: nothing here is kept only in memory (R1, R3, R4).
 */
import { RelaisError, isRelaisError, type ErrorCode } from "../../core/errors.js";
import type { Clock, Logger, Transport } from "../../core/ports.js";
import { retryDelay, type BackoffOptions } from "../backoff.js";
import { Batcher } from "../batcher.js";
import type { FederationCounters } from "../counters.js";
import { Mutex } from "../mutex.js";
import { STANZA_ENVELOPE_BYTES, xmlTextBytes } from "../pack.js";
import type { OutboxMessage, OutboxStore } from "../stores.js";

export interface OutboxSenderOptions {
  /** Rows claimed per statement. */
  batchSize: number;
  /** A sent row without a receipt after this long is resent (ms). */
  ackTimeoutMs: number;
  /** Dead-letter after this many attempts. */
  maxAttempts: number;
  backoff: BackoffOptions;
  /** Largest stanza (bytes) the XMPP server takes; bigger rows are dead-lettered (R9). */
  stanzaLimit: number;
  /** Delivered rows are deleted this long after delivery (ms); 0 keeps them. */
  retentionMs: number;
}

export const DEFAULT_OUTBOX_SENDER_OPTIONS: OutboxSenderOptions = {
  batchSize: 200,
  ackTimeoutMs: 30_000,
  maxAttempts: 50,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  stanzaLimit: 64 * 1024,
  retentionMs: 7 * 24 * 3600_000,
};

/** XMPP stanza error conditions (RFC 6120 §8.3.3) after which a resend cannot help. */
const PERMANENT_CONDITIONS = new Set([
  "bad-request",
  "forbidden",
  "not-authorized",
  "not-acceptable",
  "not-allowed",
  "policy-violation",
  "item-not-found",
  "jid-malformed",
  "feature-not-implemented",
  "payment-required",
  "registration-required",
  "subscription-required",
]);

export function isPermanentCondition(condition: string): boolean {
  return PERMANENT_CONDITIONS.has(condition);
}

/**
 * Stream error conditions (RFC 6120 §4.9.3) by which a server ends a stream because of a stanza
 * the client sent: ejabberd sends policy-violation for a stanza over its max_stanza_size.
 */
const STANZA_FAULT_CONDITIONS = new Set([
  "policy-violation",
  "not-well-formed",
  "invalid-xml",
  "restricted-xml",
  "bad-format",
  "improper-addressing",
  "unsupported-stanza-type",
]);

/** Past this many, in-flight ids are no longer tracked (isolation is then not attempted). */
const MAX_TRACKED = 10_000;

export interface FetchOutboxReport {
  claimed: number;
  sent: number;
  requeued: number;
  deadLettered: number;
}

export interface OutboxSenderDeps {
  outbox: OutboxStore;
  transport: Transport;
  clock: Clock;
  logger: Logger;
  counters: FederationCounters;
  /** Instance id recorded in claimed_by (stable across restarts of this instance). */
  owner: string;
  options?: Partial<OutboxSenderOptions>;
  random?: () => number;
}

const errorText = (code: ErrorCode, message: string): string => `${code}: ${message}`;

export class OutboxSender {
  readonly options: OutboxSenderOptions;
  private readonly mutex = new Mutex();
  private readonly deliveredBatcher: Batcher<string, number>;
  private rerun = false;
  private stopping = false;
  private kickTimer: ReturnType<typeof setImmediate> | null = null;
  private draining: Promise<unknown> | null = null;
  /** Rows written on the current stream that neither the server (confirm) nor the peer answered. */
  private readonly unanswered = new Set<string>();
  /**
   * Rows that were in flight when the server ended the stream over something we sent (R9: a
   * stanza over its max_stanza_size). Each is resent alone and confirmed by the server before the
   * next, so the one that ends the stream is found and dead-lettered and the others go through,
   * instead of every row in flight losing an attempt at each reconnect until all are dead.
   */
  private readonly suspects = new Set<string>();
  /**
   * Peers some of whose rows wait out a backoff (bounced as unavailable, or unconfirmed). The first
   * receipt from such a peer says it is back: its rows are resent at once instead of after the
   * backoff (R7: up to a minute by default).
   */
  private readonly waitingPeers = new Set<string>();

  constructor(private readonly deps: OutboxSenderDeps) {
    this.options = { ...DEFAULT_OUTBOX_SENDER_OPTIONS, ...deps.options };
    this.deliveredBatcher = new Batcher(async (ids) => {
      await this.deps.outbox.markDelivered(ids);
      return ids.map(() => 1);
    });
  }

  /** The whole job: resend what timed out, then send everything due. */
  async run(): Promise<FetchOutboxReport> {
    const report: FetchOutboxReport = { claimed: 0, sent: 0, requeued: 0, deadLettered: 0 };
    await this.requeueUnconfirmed(report);
    await this.mutex.run(async () => {
      // No drain of ours runs while we hold the mutex: our rows still 'sending' lost the answer
      // of their claim or markSent (database restart, R5) and would wait for a restart otherwise.
      await this.deps.outbox.release({ owner: this.deps.owner });
      await this.drainLoop(report);
    });
    if (this.options.retentionMs > 0) {
      await this.deps.outbox.purgeDelivered(this.deps.clock.now() - this.options.retentionMs);
    }
    return report;
  }

  /** Ask for a drain soon (after an enqueue, on reconnect). Never throws. */
  kick(): void {
    if (this.stopping) return;
    if (this.mutex.locked) {
      this.rerun = true;
      return;
    }
    if (this.kickTimer !== null) return;
    this.kickTimer = setImmediate(() => {
      this.kickTimer = null;
      const p = this.mutex
        .run(async () => {
          do {
            this.rerun = false;
            await this.drainLoop({ claimed: 0, sent: 0, requeued: 0, deadLettered: 0 });
          } while (this.rerun && !this.stopping);
        })
        .catch((e: unknown) => {
          this.deps.logger.warn({ err: e }, "outbox drain failed; the next tick retries");
        });
      this.draining = p;
    });
  }

  /** A receipt arrived: batched mark delivered. Never throws. */
  onReceipt(id: string, from?: string): void {
    this.unanswered.delete(id);
    this.suspects.delete(id);
    this.deps.counters.delivered++;
    if (from !== undefined && this.waitingPeers.delete(from.toLowerCase())) {
      void this.deps.outbox.expedite(from).then(
        (n) => {
          if (n > 0) {
            this.deps.logger.info(
              { peer: from, rows: n },
              "peer answers again: resending its waiting rows now",
            );
            this.kick();
          }
        },
        (e: unknown) => {
          this.waitingPeers.add(from.toLowerCase()); // try again on its next receipt
          this.deps.logger.warn({ err: e, peer: from }, "could not expedite a peer's rows");
        },
      );
    }
    this.deliveredBatcher.push(id).catch((e: unknown) => {
      // The row stays sent; it is resent after the timeout and the peer answers the replay.
      this.deps.logger.warn({ err: e, messageId: id }, "could not mark delivered");
    });
  }

  /** The peer or the server answered with an error stanza. Never throws. */
  onBounce(id: string, from: string, condition: string, text: string): void {
    this.unanswered.delete(id);
    this.suspects.delete(id);
    this.deps.counters.bounced++;
    void this.handleBounce(id, from, condition, text).catch((e: unknown) => {
      this.deps.logger.warn({ err: e, messageId: id }, "could not record a bounce");
    });
  }

  private async handleBounce(id: string, from: string, condition: string, text: string): Promise<void> {
    const detail = `${condition}${text ? ` (${text})` : ""} from ${from}`;
    if (isPermanentCondition(condition)) {
      const dead = await this.deps.outbox.markDead(id, errorText("RELAIS_ERR_FED_PEER_REJECTED", detail));
      if (dead) this.deps.counters.deadLettered++;
      this.deps.logger.warn({ messageId: id, condition, text, from }, "message rejected by peer");
      return;
    }
    const row = await this.deps.outbox.get(id);
    if (!row) return;
    const status = await this.deps.outbox.fail(id, this.plan(row, "RELAIS_ERR_FED_PEER_UNAVAILABLE", detail));
    this.countFailure(status);
    if (status === "pending") this.waitingPeers.add(row.toJid.toLowerCase());
  }

  /** Accept work again after stop(). */
  resume(): void {
    this.stopping = false;
  }

  /** Shutdown: stop kicking, wait for the running drain, put our claimed rows back (R10). */
  async stop(): Promise<number> {
    this.stopping = true;
    if (this.kickTimer !== null) {
      clearImmediate(this.kickTimer);
      this.kickTimer = null;
    }
    await this.draining?.catch(() => undefined);
    await this.deliveredBatcher.idle();
    return this.deps.outbox.release({ owner: this.deps.owner });
  }

  /** Startup: rows this instance left in 'sending' (crash) go back to pending, and so do rows
   * it had sent without a receipt: resent with the same id, the peer deduplicates (R4). */
  async recover(): Promise<{ released: number; requeued: number }> {
    const released = await this.deps.outbox.release({ owner: this.deps.owner });
    const requeued = await this.deps.outbox.requeueUnacknowledged(this.deps.clock.now() + 1);
    return { released, requeued };
  }

  /** After a reconnect the stream may have lost what it carried: resend every unconfirmed row. */
  async onReconnected(): Promise<void> {
    const condition = this.deps.transport.lastStreamError;
    if (condition !== null && STANZA_FAULT_CONDITIONS.has(condition)) {
      for (const id of this.unanswered) if (this.suspects.size < MAX_TRACKED) this.suspects.add(id);
      this.deps.logger.warn(
        { condition, suspects: this.suspects.size },
        "the XMPP server ended the stream over a message we sent; the messages in flight are resent one at a time",
      );
    }
    this.unanswered.clear();
    await this.deps.outbox.requeueUnacknowledged(this.deps.clock.now() + 1);
    this.kick();
  }

  private plan(row: OutboxMessage, code: ErrorCode, message: string) {
    return {
      error: errorText(code, message),
      nextAttemptAt: this.deps.clock.now() + retryDelay(row.attempts, this.options.backoff, this.deps.random),
      maxAttempts: this.options.maxAttempts,
    };
  }

  private countFailure(status: string | null): void {
    if (status === "dead") this.deps.counters.deadLettered++;
    else if (status === "pending") this.deps.counters.retried++;
  }

  private async requeueUnconfirmed(report: FetchOutboxReport): Promise<void> {
    const before = this.deps.clock.now() - this.options.ackTimeoutMs;
    let afterId = 0;
    for (;;) {
      const rows = await this.deps.outbox.list({ status: "sent", afterId, limit: 1000 });
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.updatedAt >= before) continue;
        this.unanswered.delete(row.messageId); // timed out: no longer counted as in flight
        const status = await this.deps.outbox.fail(
          row.messageId,
          this.plan(row, "RELAIS_ERR_FED_UNCONFIRMED", `no receipt within ${this.options.ackTimeoutMs} ms`),
        );
        this.countFailure(status);
        if (status === "dead") report.deadLettered++;
        else if (status === "pending") {
          report.requeued++;
          this.waitingPeers.add(row.toJid.toLowerCase());
        }
      }
      afterId = rows[rows.length - 1]!.id;
      if (rows.length < 1000) break;
    }
  }

  private async drainLoop(report: FetchOutboxReport): Promise<void> {
    const { outbox, transport } = this.deps;
    while (!this.stopping && transport.state === "online") {
      const rows = await outbox.claim(this.options.batchSize, this.deps.owner);
      if (rows.length === 0) return;
      report.claimed += rows.length;
      const sent: string[] = [];
      const unsent: string[] = [];
      const alone = this.suspects.size === 0 ? [] : rows.filter((r) => this.suspects.has(r.messageId));
      const together = alone.length === 0 ? rows : rows.filter((r) => !this.suspects.has(r.messageId));
      await Promise.all(together.map((row) => this.sendOne(row, report, sent, unsent)));
      if (unsent.length === 0 && alone.length > 0) await this.sendAlone(alone, report, sent, unsent);
      await outbox.markSent(sent);
      report.sent += sent.length;
      if (unsent.length > 0) {
        await outbox.unclaim(unsent);
        return;
      }
    }
  }

  /**
   * Suspects one at a time, each confirmed by the server before the next (after a barrier for
   * what this batch sent before them). The one the server ends the stream on is dead-lettered;
   * when the stream ends, the rows not written go to `unsent`.
   */
  private async sendAlone(
    rows: OutboxMessage[],
    report: FetchOutboxReport,
    sent: string[],
    unsent: string[],
  ): Promise<void> {
    const giveBack = (from: number) => {
      for (const r of rows.slice(from)) unsent.push(r.messageId);
    };
    if (sent.length > 0 && (await this.confirm()) !== null) {
      giveBack(0);
      return;
    }
    for (const [i, row] of rows.entries()) {
      const outcome = await this.sendOne(row, report, sent, unsent);
      if (outcome === "offline") {
        giveBack(i + 1);
        return;
      }
      if (outcome !== "sent") {
        this.suspects.delete(row.messageId);
        continue;
      }
      const ended = await this.confirm();
      if (ended === null) {
        this.suspects.delete(row.messageId);
        continue;
      }
      const condition = isRelaisError(ended) ? ended.details.streamError : undefined;
      if (typeof condition === "string" && STANZA_FAULT_CONDITIONS.has(condition)) {
        // Alone on the stream when the server ended it: this message is the cause.
        sent.splice(sent.indexOf(row.messageId), 1);
        this.suspects.delete(row.messageId);
        this.unanswered.delete(row.messageId);
        await this.deadLetter(
          row.messageId,
          errorText("RELAIS_ERR_FED_SERVER_REFUSED", `the XMPP server ended the stream on it (${condition})`),
          report,
        );
        this.deps.logger.warn({ messageId: row.messageId, condition }, "message refused by the XMPP server");
      }
      giveBack(i + 1);
      return;
    }
  }

  /** Barrier: null once the server handled everything written so far, else why the stream ended. */
  private async confirm(): Promise<unknown> {
    try {
      await this.deps.transport.confirm();
      this.unanswered.clear();
      return null;
    } catch (e) {
      return e;
    }
  }

  /** Gives up on a row visibly: dead letter, counters, report. */
  private async deadLetter(messageId: string, error: string, report: FetchOutboxReport): Promise<void> {
    await this.deps.outbox.markDead(messageId, error);
    this.deps.counters.deadLettered++;
    report.deadLettered++;
  }

  private async sendOne(
    row: OutboxMessage,
    report: FetchOutboxReport,
    sent: string[],
    unsent: string[],
  ): Promise<"sent" | "offline" | "dead" | "failed"> {
    const { outbox, transport } = this.deps;
    if (row.attempts > this.options.maxAttempts) {
      // Requeued once too often (timeouts): give up visibly.
      await this.deadLetter(
        row.messageId,
        row.lastError ?? "RELAIS_ERR_FED_UNCONFIRMED: attempts exhausted",
        report,
      );
      return "dead";
    }
    if (xmlTextBytes(row.body) + STANZA_ENVELOPE_BYTES > this.options.stanzaLimit) {
      await this.deadLetter(
        row.messageId,
        errorText(
          "RELAIS_ERR_FED_OVERSIZE",
          `the pack needs more than the ${this.options.stanzaLimit}-byte stanza limit`,
        ),
        report,
      );
      return "dead";
    }
    try {
      await transport.send({
        id: row.messageId,
        to: row.toJid,
        body: row.body,
        ...(row.federatedUser === null ? {} : { user: row.federatedUser }),
        ...(row.consumerId === null ? {} : { consumer: String(row.consumerId) }),
      });
      sent.push(row.messageId);
      if (this.unanswered.size < MAX_TRACKED) this.unanswered.add(row.messageId);
      this.deps.counters.sent++;
      if (row.attempts > 1) this.deps.counters.retried++;
      return "sent";
    } catch (e) {
      if (isRelaisError(e) && e.retryable) {
        unsent.push(row.messageId); // unclaimed by the caller: an outage burns no attempt
        return "offline";
      }
      const err = isRelaisError(e) ? e : new RelaisError("RELAIS_ERR_INTERNAL_BUG", String(e));
      const status = await outbox.fail(row.messageId, this.plan(row, err.code, err.message));
      this.countFailure(status);
      return "failed";
    }
  }
}
