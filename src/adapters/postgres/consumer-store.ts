import { RelaisError } from "../../core/errors.js";
import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { Consumer, ConsumerStore, NewConsumer } from "../../federation/stores.js";
import type { Queryable } from "./database.js";
import { deleting } from "./deleting.js";
import { json, ms, num, optMs, ts } from "./sql-values.js";

interface Row {
  id: unknown;
  user_app_id: unknown;
  consumer_app_id: unknown;
  selector: string;
  mapping: unknown;
  enabled: boolean;
  schedule: string | null;
  realtime: boolean;
  last_run_at: unknown;
  cursor: unknown;
  created_at: unknown;
}

const COLS =
  "id, user_app_id, consumer_app_id, selector, mapping, enabled, schedule, realtime, last_run_at, cursor, created_at";

const toConsumer = (r: Row): Consumer => ({
  id: num(r.id),
  userAppId: num(r.user_app_id),
  consumerAppId: num(r.consumer_app_id),
  selector: r.selector,
  mapping: r.mapping ?? null,
  enabled: r.enabled,
  schedule: r.schedule,
  realtime: r.realtime,
  lastRunAt: optMs(r.last_run_at),
  cursor: r.cursor ?? null,
  createdAt: ms(r.created_at),
});

export class PgConsumerStore implements ConsumerStore {
  constructor(
    private readonly db: Queryable,
    private readonly clock: Clock = systemClock,
  ) {}

  async add(c: NewConsumer): Promise<Consumer> {
    const r = await this.db.query<Row>(
      `INSERT INTO consumers (user_app_id, consumer_app_id, selector, mapping, enabled, schedule, realtime, created_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8::timestamptz) RETURNING ${COLS}`,
      [
        c.userAppId,
        c.consumerAppId,
        c.selector,
        json(c.mapping),
        c.enabled ?? true,
        c.schedule ?? null,
        c.realtime ?? false,
        ts(this.clock.now()),
      ],
    );
    return toConsumer(r.rows[0]!);
  }

  async get(id: number): Promise<Consumer | null> {
    const r = await this.db.query<Row>(`SELECT ${COLS} FROM consumers WHERE id = $1`, [id]);
    return r.rows[0] ? toConsumer(r.rows[0]) : null;
  }

  async list(
    filter: { enabled?: boolean; userAppId?: number; consumerAppId?: number } = {},
  ): Promise<Consumer[]> {
    const r = await this.db.query<Row>(
      `SELECT ${COLS} FROM consumers
       WHERE ($1::boolean IS NULL OR enabled = $1)
         AND ($2::bigint IS NULL OR user_app_id = $2)
         AND ($3::bigint IS NULL OR consumer_app_id = $3)
       ORDER BY id`,
      [filter.enabled ?? null, filter.userAppId ?? null, filter.consumerAppId ?? null],
    );
    return r.rows.map(toConsumer);
  }

  async setEnabled(id: number, enabled: boolean): Promise<Consumer> {
    const r = await this.db.query<Row>(`UPDATE consumers SET enabled = $2 WHERE id = $1 RETURNING ${COLS}`, [
      id,
      enabled,
    ]);
    if (!r.rows[0]) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no consumer ${id}`, { id });
    return toConsumer(r.rows[0]);
  }

  async recordRun(id: number, at: number, cursor: unknown): Promise<void> {
    const r = await this.db.query(
      "UPDATE consumers SET last_run_at = $2::timestamptz, cursor = $3::jsonb WHERE id = $1",
      [id, ts(at), json(cursor)],
    );
    if (r.rowCount === 0) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no consumer ${id}`, { id });
  }

  remove(id: number): Promise<boolean> {
    return deleting("consumer", id, async () => {
      const r = await this.db.query("DELETE FROM consumers WHERE id = $1", [id]);
      return r.rowCount > 0;
    });
  }
}
