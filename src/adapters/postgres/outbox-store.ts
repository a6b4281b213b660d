/**
 * The Outbox (seed §3.1; RELIABILITY.md): the source of truth for messages to send.
 * Batch statements throughout (reference/postgres.md: one commit per message caps near 1.6k/s).
 * Claims use FOR UPDATE SKIP LOCKED so two instances never claim the same row (R8).
 */
import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import {
  OUTBOX_STATUSES,
  type ListPage,
  type NewOutboxMessage,
  type OutboxMessage,
  type OutboxStatus,
  type OutboxStore,
  type RetryPlan,
} from "../../federation/stores.js";
import type { Queryable } from "./database.js";
import { clampLimit, ms, num, optNum, statusFilter, str, ts } from "./sql-values.js";

interface Row {
  id: unknown;
  message_id: string;
  consumer_id: unknown;
  to_jid: string;
  federated_user: string | null;
  body: string;
  record_count: unknown;
  status: OutboxStatus;
  attempts: unknown;
  next_attempt_at: unknown;
  last_error: string | null;
  claimed_by: string | null;
  created_at: unknown;
  updated_at: unknown;
}

const COLS =
  "id, message_id, consumer_id, to_jid, federated_user, body, record_count, status, attempts, next_attempt_at, last_error, claimed_by, created_at, updated_at";

const toMessage = (r: Row): OutboxMessage => ({
  id: num(r.id),
  messageId: r.message_id,
  consumerId: optNum(r.consumer_id),
  toJid: r.to_jid,
  federatedUser: r.federated_user,
  body: r.body,
  recordCount: num(r.record_count),
  status: r.status,
  attempts: num(r.attempts),
  nextAttemptAt: ms(r.next_attempt_at),
  lastError: r.last_error,
  claimedBy: r.claimed_by,
  createdAt: ms(r.created_at),
  updatedAt: ms(r.updated_at),
});

const byId = (a: { id: number }, b: { id: number }): number => a.id - b.id;

export class PgOutboxStore implements OutboxStore {
  constructor(
    private readonly db: Queryable,
    private readonly clock: Clock = systemClock,
  ) {}

  private now(): string {
    return ts(this.clock.now());
  }

  async enqueue(messages: readonly NewOutboxMessage[]): Promise<string[]> {
    if (messages.length === 0) return [];
    const batch = messages.map((m) => ({
      m: m.messageId,
      c: m.consumerId,
      t: m.toJid,
      u: m.federatedUser,
      b: m.body,
      n: m.recordCount,
      a: m.notBefore === undefined ? null : ts(m.notBefore),
    }));
    // One multi-row statement (atomic); ordinality keeps the ids in input order.
    const r = await this.db.query<{ message_id: string }>(
      `INSERT INTO outbox (message_id, consumer_id, to_jid, federated_user, body, record_count,
                           next_attempt_at, created_at, updated_at)
       SELECT e->>'m', (e->>'c')::bigint, e->>'t', e->>'u', e->>'b', (e->>'n')::integer,
              COALESCE((e->>'a')::timestamptz, $2::timestamptz), $2::timestamptz, $2::timestamptz
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord)
       ORDER BY ord
       ON CONFLICT (message_id) DO NOTHING
       RETURNING message_id`,
      [JSON.stringify(batch), this.now()],
    );
    return r.rows.map((row) => row.message_id);
  }

  async claim(limit: number, owner: string): Promise<OutboxMessage[]> {
    const r = await this.db.query<Row>(
      `UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_by = $3,
                         updated_at = $1::timestamptz
       WHERE id IN (
         SELECT id FROM outbox
         WHERE status = 'pending' AND next_attempt_at <= $1::timestamptz
         ORDER BY next_attempt_at, id
         LIMIT $2
         FOR UPDATE SKIP LOCKED)
       RETURNING ${COLS}`,
      [this.now(), clampLimit(limit, 10_000), owner],
    );
    return r.rows.map(toMessage).sort(byId);
  }

  async markSent(messageIds: readonly string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const r = await this.db.query(
      `UPDATE outbox SET status = 'sent', updated_at = $2::timestamptz
       WHERE status = 'sending' AND message_id IN (SELECT jsonb_array_elements_text($1::jsonb))`,
      [JSON.stringify(messageIds), this.now()],
    );
    return r.rowCount;
  }

  async markDelivered(messageIds: readonly string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const r = await this.db.query(
      `UPDATE outbox SET status = 'delivered', claimed_by = NULL, updated_at = $2::timestamptz
       WHERE status <> 'delivered' AND message_id IN (SELECT jsonb_array_elements_text($1::jsonb))`,
      [JSON.stringify(messageIds), this.now()],
    );
    return r.rowCount;
  }

  async fail(messageId: string, plan: RetryPlan): Promise<OutboxStatus | null> {
    const r = await this.db.query<{ status: OutboxStatus }>(
      `UPDATE outbox
       SET status = CASE WHEN attempts >= $2 THEN 'dead' ELSE 'pending' END,
           next_attempt_at = $3::timestamptz, last_error = $4, claimed_by = NULL,
           updated_at = $5::timestamptz
       WHERE message_id = $1 AND status IN ('sending', 'sent')
       RETURNING status`,
      [messageId, plan.maxAttempts, ts(plan.nextAttemptAt), plan.error, this.now()],
    );
    return r.rows[0]?.status ?? null;
  }

  async markDead(messageId: string, error: string): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE outbox SET status = 'dead', last_error = $2, claimed_by = NULL, updated_at = $3::timestamptz
       WHERE message_id = $1 AND status <> 'delivered'`,
      [messageId, error, this.now()],
    );
    return r.rowCount > 0;
  }

  async release(options: { owner?: string; claimedBefore?: number } = {}): Promise<number> {
    const r = await this.db.query(
      `UPDATE outbox SET status = 'pending', claimed_by = NULL, updated_at = $1::timestamptz
       WHERE status = 'sending'
         AND ($2::text IS NULL OR claimed_by = $2)
         AND ($3::timestamptz IS NULL OR updated_at < $3::timestamptz)`,
      [
        this.now(),
        str(options.owner),
        options.claimedBefore === undefined ? null : ts(options.claimedBefore),
      ],
    );
    return r.rowCount;
  }

  async expedite(toJid: string): Promise<number> {
    const r = await this.db.query(
      `UPDATE outbox SET next_attempt_at = $2::timestamptz, updated_at = $2::timestamptz
       WHERE status = 'pending' AND lower(to_jid) = lower($1) AND next_attempt_at > $2::timestamptz`,
      [toJid, this.now()],
    );
    return r.rowCount;
  }

  async unclaim(messageIds: readonly string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const r = await this.db.query(
      `UPDATE outbox SET status = 'pending', claimed_by = NULL, attempts = GREATEST(attempts - 1, 0),
                         updated_at = $2::timestamptz
       WHERE status = 'sending' AND message_id IN (SELECT jsonb_array_elements_text($1::jsonb))`,
      [JSON.stringify(messageIds), this.now()],
    );
    return r.rowCount;
  }

  async requeueUnacknowledged(sentBefore: number): Promise<number> {
    const r = await this.db.query(
      `UPDATE outbox SET status = 'pending', claimed_by = NULL, next_attempt_at = $1::timestamptz,
                         updated_at = $1::timestamptz
       WHERE status = 'sent' AND updated_at < $2::timestamptz`,
      [this.now(), ts(sentBefore)],
    );
    return r.rowCount;
  }

  async get(messageId: string): Promise<OutboxMessage | null> {
    const r = await this.db.query<Row>(`SELECT ${COLS} FROM outbox WHERE message_id = $1`, [messageId]);
    return r.rows[0] ? toMessage(r.rows[0]) : null;
  }

  async list(page: ListPage<OutboxStatus> = {}): Promise<OutboxMessage[]> {
    const r = await this.db.query<Row>(
      `SELECT ${COLS} FROM outbox
       WHERE ($1::jsonb IS NULL OR status IN (SELECT jsonb_array_elements_text($1::jsonb)))
         AND id > $2
       ORDER BY id LIMIT $3`,
      [statusFilter(page.status), page.afterId ?? 0, clampLimit(page.limit)],
    );
    return r.rows.map(toMessage);
  }

  async countByStatus(): Promise<Record<OutboxStatus, number>> {
    const r = await this.db.query<{ status: OutboxStatus; n: unknown }>(
      "SELECT status, count(*) AS n FROM outbox GROUP BY status",
    );
    const out = Object.fromEntries(OUTBOX_STATUSES.map((s) => [s, 0])) as Record<OutboxStatus, number>;
    for (const row of r.rows) out[row.status] = num(row.n);
    return out;
  }

  async retry(ids?: readonly number[]): Promise<number> {
    const r = await this.db.query(
      `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1::timestamptz,
                         claimed_by = NULL, updated_at = $1::timestamptz
       WHERE status = 'dead'
         AND ($2::jsonb IS NULL OR id IN (SELECT (jsonb_array_elements_text($2::jsonb))::bigint))`,
      [this.now(), ids === undefined ? null : JSON.stringify(ids)],
    );
    return r.rowCount;
  }

  async purgeDelivered(before: number): Promise<number> {
    const r = await this.db.query(
      "DELETE FROM outbox WHERE status = 'delivered' AND updated_at < $1::timestamptz",
      [ts(before)],
    );
    return r.rowCount;
  }
}
