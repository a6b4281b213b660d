import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { AuditEntry, AuditLog, NewAuditEntry } from "../../federation/stores.js";
import type { Queryable } from "./database.js";
import { clampLimit, json, ms, num, str, ts } from "./sql-values.js";

interface Row {
  id: unknown;
  at: unknown;
  actor: string;
  action: string;
  subject: string | null;
  outcome: string;
  details: Record<string, unknown> | null;
}

export class PgAuditLog implements AuditLog {
  constructor(
    private readonly db: Queryable,
    private readonly clock: Clock = systemClock,
  ) {}

  async append(e: NewAuditEntry): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_log (at, actor, action, subject, outcome, details)
       VALUES ($1::timestamptz, $2, $3, $4, $5, $6::jsonb)`,
      [ts(e.at ?? this.clock.now()), e.actor, e.action, e.subject, e.outcome, json(e.details)],
    );
  }

  async list(
    filter: { action?: string; actor?: string; limit?: number; beforeId?: number } = {},
  ): Promise<AuditEntry[]> {
    const r = await this.db.query<Row>(
      `SELECT id, at, actor, action, subject, outcome, details FROM audit_log
       WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR actor = $2)
         AND ($3::bigint IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [str(filter.action), str(filter.actor), filter.beforeId ?? null, clampLimit(filter.limit)],
    );
    return r.rows.map((row) => ({
      id: num(row.id),
      at: ms(row.at),
      actor: row.actor,
      action: row.action,
      subject: row.subject,
      outcome: row.outcome,
      details: row.details ?? null,
    }));
  }
}
