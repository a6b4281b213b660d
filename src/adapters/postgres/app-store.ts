import { RelaisError } from "../../core/errors.js";
import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { App, AppStore, NewApp } from "../../federation/stores.js";
import type { Queryable } from "./database.js";
import { deleting } from "./deleting.js";
import { ms, num, optNum, ts } from "./sql-values.js";

interface AppRow {
  id: unknown;
  name: string;
  jid: string;
  description: string | null;
  default_user_id: unknown;
  created_at: unknown;
}

const APP_COLS = "id, name, jid, description, default_user_id, created_at";

const toApp = (r: AppRow): App => ({
  id: num(r.id),
  name: r.name,
  jid: r.jid,
  description: r.description,
  defaultUserId: optNum(r.default_user_id),
  createdAt: ms(r.created_at),
});

export class PgAppStore implements AppStore {
  constructor(
    private readonly db: Queryable,
    private readonly clock: Clock = systemClock,
  ) {}

  async add(app: NewApp): Promise<App> {
    const r = await this.db.query<AppRow>(
      `INSERT INTO apps (name, jid, description, default_user_id, created_at)
       VALUES ($1, $2, $3, $4, $5::timestamptz) RETURNING ${APP_COLS}`,
      [app.name, app.jid, app.description ?? null, app.defaultUserId ?? null, ts(this.clock.now())],
    );
    return toApp(r.rows[0]!);
  }

  async get(id: number): Promise<App | null> {
    const r = await this.db.query<AppRow>(`SELECT ${APP_COLS} FROM apps WHERE id = $1`, [id]);
    return r.rows[0] ? toApp(r.rows[0]) : null;
  }

  async getByJid(jid: string): Promise<App | null> {
    const r = await this.db.query<AppRow>(`SELECT ${APP_COLS} FROM apps WHERE jid = $1`, [jid]);
    return r.rows[0] ? toApp(r.rows[0]) : null;
  }

  async list(): Promise<App[]> {
    const r = await this.db.query<AppRow>(`SELECT ${APP_COLS} FROM apps ORDER BY id`);
    return r.rows.map(toApp);
  }

  async setDefaultUser(id: number, userId: number | null): Promise<App> {
    const r = await this.db.query<AppRow>(
      `UPDATE apps SET default_user_id = $2 WHERE id = $1 RETURNING ${APP_COLS}`,
      [id, userId],
    );
    if (!r.rows[0]) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no app ${id}`, { id });
    return toApp(r.rows[0]);
  }

  remove(id: number): Promise<boolean> {
    return deleting("app", id, async () => {
      const r = await this.db.query("DELETE FROM apps WHERE id = $1", [id]);
      return r.rowCount > 0;
    });
  }
}
