/**
 * The Inbox (seed §3.1, §3.3): messages received from the federation. Deduplicates on
 * (sender_jid, message_id) so a resent stanza is applied once (RELIABILITY.md S3, R4).
 */
import { RelaisError } from "../../core/errors.js";
import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import {
  INBOX_STATUSES,
  type InboxMessage,
  type InboxStatus,
  type InboxStore,
  type ListPage,
  type NewInboxMessage,
  type RetryPlan,
} from "../../federation/stores.js";
import type { Database } from "./database.js";
import { clampLimit, ms, num, statusFilter, str, ts } from "./sql-values.js";

interface Row {
  id: unknown;
  sender_jid: string;
  message_id: string;
  federated_user: string | null;
  consumer_ref: string | null;
  body: string;
  status: InboxStatus;
  attempts: unknown;
  next_attempt_at: unknown;
  last_error: string | null;
  claimed_by: string | null;
  received_at: unknown;
  updated_at: unknown;
}

const COLS =
  "id, sender_jid, message_id, federated_user, consumer_ref, body, status, attempts, next_attempt_at, last_error, claimed_by, received_at, updated_at";

const toMessage = (r: Row): InboxMessage => ({
  id: num(r.id),
  senderJid: r.sender_jid,
  messageId: r.message_id,
  federatedUser: r.federated_user,
  consumerRef: r.consumer_ref,
  body: r.body,
  status: r.status,
  attempts: num(r.attempts),
  nextAttemptAt: ms(r.next_attempt_at),
  lastError: r.last_error,
  claimedBy: r.claimed_by,
  receivedAt: ms(r.received_at),
  updatedAt: ms(r.updated_at),
});

const key = (sender: string, id: string): string => `${sender}\u0000${id}`;

const encode = (m: NewInboxMessage) => ({
  s: m.senderJid,
  m: m.messageId,
  u: m.federatedUser,
  c: m.consumerRef,
  b: m.body,
  st: m.status ?? "pending",
  e: m.lastError ?? null,
});

const INSERT_FROM_JSON = `
  INSERT INTO inbox (sender_jid, message_id, federated_user, consumer_ref, body, status, last_error,
                     next_attempt_at, received_at, updated_at)
  SELECT e->>'s', e->>'m', e->>'u', e->>'c', e->>'b', e->>'st', e->>'e',
         $2::timestamptz, $2::timestamptz, $2::timestamptz
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord)
  ORDER BY ord
  ON CONFLICT (sender_jid, message_id) DO NOTHING`;

export class PgInboxStore implements InboxStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock = systemClock,
  ) {}

  private now(): string {
    return ts(this.clock.now());
  }

  async insertIfAbsent(message: NewInboxMessage): Promise<{ inserted: boolean; message: InboxMessage }> {
    // A conflicting row can vanish (purged) between the insert and the read: try again then.
    for (let attempt = 0; ; attempt++) {
      const r = await this.db.query<Row>(`${INSERT_FROM_JSON} RETURNING ${COLS}`, [
        JSON.stringify([encode(message)]),
        this.now(),
      ]);
      if (r.rows[0]) return { inserted: true, message: toMessage(r.rows[0]) };
      const existing = await this.find(message.senderJid, message.messageId);
      if (existing) return { inserted: false, message: existing };
      if (attempt >= 2)
        throw new RelaisError("RELAIS_ERR_DB_UNAVAILABLE", "inbox row kept vanishing during insert");
    }
  }

  async insertManyIfAbsent(
    messages: readonly NewInboxMessage[],
  ): Promise<{ inserted: boolean; id: number }[]> {
    if (messages.length === 0) return [];
    const payload = JSON.stringify(messages.map(encode));
    return this.db.transaction(async (tx) => {
      const ins = await tx.query<{ id: unknown; sender_jid: string; message_id: string }>(
        `${INSERT_FROM_JSON} RETURNING id, sender_jid, message_id`,
        [payload, this.now()],
      );
      const all = await tx.query<{ id: unknown; sender_jid: string; message_id: string }>(
        `SELECT id, sender_jid, message_id FROM inbox
         WHERE (sender_jid, message_id) IN
               (SELECT e->>'s', e->>'m' FROM jsonb_array_elements($1::jsonb) AS x(e))`,
        [payload],
      );
      const fresh = new Set(ins.rows.map((r) => key(r.sender_jid, r.message_id)));
      const ids = new Map(all.rows.map((r) => [key(r.sender_jid, r.message_id), num(r.id)]));
      return messages.map((m) => {
        const k = key(m.senderJid, m.messageId);
        const inserted = fresh.delete(k); // a duplicate within the batch counts once
        return { inserted, id: ids.get(k) ?? -1 };
      });
    });
  }

  async claim(limit: number, owner: string): Promise<InboxMessage[]> {
    const r = await this.db.query<Row>(
      `UPDATE inbox SET status = 'applying', attempts = attempts + 1, claimed_by = $3,
                        updated_at = $1::timestamptz
       WHERE id IN (
         SELECT id FROM inbox
         WHERE status = 'pending' AND next_attempt_at <= $1::timestamptz
         ORDER BY next_attempt_at, id
         LIMIT $2
         FOR UPDATE SKIP LOCKED)
       RETURNING ${COLS}`,
      [this.now(), clampLimit(limit, 10_000), owner],
    );
    return r.rows.map(toMessage).sort((a, b) => a.id - b.id);
  }

  async markApplied(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.db.query(
      `UPDATE inbox SET status = 'applied', claimed_by = NULL, last_error = NULL, updated_at = $2::timestamptz
       WHERE status <> 'applied' AND id IN (SELECT (jsonb_array_elements_text($1::jsonb))::bigint)`,
      [JSON.stringify(ids), this.now()],
    );
    return r.rowCount;
  }

  async markRejected(id: number, error: string): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE inbox SET status = 'rejected', last_error = $2, claimed_by = NULL, updated_at = $3::timestamptz
       WHERE id = $1 AND status <> 'applied'`,
      [id, error, this.now()],
    );
    return r.rowCount > 0;
  }

  async fail(id: number, plan: RetryPlan): Promise<InboxStatus | null> {
    const r = await this.db.query<{ status: InboxStatus }>(
      `UPDATE inbox
       SET status = CASE WHEN attempts >= $2 THEN 'dead' ELSE 'pending' END,
           next_attempt_at = $3::timestamptz, last_error = $4, claimed_by = NULL,
           updated_at = $5::timestamptz
       WHERE id = $1 AND status = 'applying'
       RETURNING status`,
      [id, plan.maxAttempts, ts(plan.nextAttemptAt), plan.error, this.now()],
    );
    return r.rows[0]?.status ?? null;
  }

  async release(options: { owner?: string; claimedBefore?: number } = {}): Promise<number> {
    const r = await this.db.query(
      `UPDATE inbox SET status = 'pending', claimed_by = NULL, updated_at = $1::timestamptz
       WHERE status = 'applying'
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

  async get(id: number): Promise<InboxMessage | null> {
    const r = await this.db.query<Row>(`SELECT ${COLS} FROM inbox WHERE id = $1`, [id]);
    return r.rows[0] ? toMessage(r.rows[0]) : null;
  }

  async find(senderJid: string, messageId: string): Promise<InboxMessage | null> {
    const r = await this.db.query<Row>(
      `SELECT ${COLS} FROM inbox WHERE sender_jid = $1 AND message_id = $2`,
      [senderJid, messageId],
    );
    return r.rows[0] ? toMessage(r.rows[0]) : null;
  }

  async list(page: ListPage<InboxStatus> = {}): Promise<InboxMessage[]> {
    const r = await this.db.query<Row>(
      `SELECT ${COLS} FROM inbox
       WHERE ($1::jsonb IS NULL OR status IN (SELECT jsonb_array_elements_text($1::jsonb)))
         AND id > $2
       ORDER BY id LIMIT $3`,
      [statusFilter(page.status), page.afterId ?? 0, clampLimit(page.limit)],
    );
    return r.rows.map(toMessage);
  }

  async countByStatus(): Promise<Record<InboxStatus, number>> {
    const r = await this.db.query<{ status: InboxStatus; n: unknown }>(
      "SELECT status, count(*) AS n FROM inbox GROUP BY status",
    );
    const out = Object.fromEntries(INBOX_STATUSES.map((s) => [s, 0])) as Record<InboxStatus, number>;
    for (const row of r.rows) out[row.status] = num(row.n);
    return out;
  }

  async retry(ids?: readonly number[]): Promise<number> {
    // Without ids only dead rows come back; rejected rows need their ids (a deliberate refusal).
    const r = await this.db.query(
      `UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = $1::timestamptz,
                        claimed_by = NULL, updated_at = $1::timestamptz
       WHERE ($2::jsonb IS NULL AND status = 'dead')
          OR ($2::jsonb IS NOT NULL AND status IN ('dead', 'rejected')
              AND id IN (SELECT (jsonb_array_elements_text($2::jsonb))::bigint))`,
      [this.now(), ids === undefined ? null : JSON.stringify(ids)],
    );
    return r.rowCount;
  }

  async purgeDone(before: number): Promise<number> {
    const r = await this.db.query(
      "DELETE FROM inbox WHERE status IN ('applied', 'rejected') AND updated_at < $1::timestamptz",
      [ts(before)],
    );
    return r.rowCount;
  }
}
