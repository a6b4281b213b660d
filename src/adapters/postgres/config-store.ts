import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { ConfigEntry, ConfigStore } from "../../federation/stores.js";
import type { Queryable } from "./database.js";
import { ms, ts } from "./sql-values.js";

interface Row {
  key: string;
  value: unknown;
  updated_at: unknown;
}

const toEntry = (r: Row): ConfigEntry => ({ key: r.key, value: r.value, updatedAt: ms(r.updated_at) });

export class PgConfigStore implements ConfigStore {
  constructor(
    private readonly db: Queryable,
    private readonly clock: Clock = systemClock,
  ) {}

  async get(key: string): Promise<ConfigEntry | null> {
    const r = await this.db.query<Row>("SELECT key, value, updated_at FROM config WHERE key = $1", [key]);
    return r.rows[0] ? toEntry(r.rows[0]) : null;
  }

  async set(key: string, value: unknown): Promise<ConfigEntry> {
    const r = await this.db.query<Row>(
      `INSERT INTO config (key, value, updated_at) VALUES ($1, $2::jsonb, $3::timestamptz)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
       RETURNING key, value, updated_at`,
      [key, JSON.stringify(value ?? null), ts(this.clock.now())],
    );
    return toEntry(r.rows[0]!);
  }

  async list(): Promise<ConfigEntry[]> {
    const r = await this.db.query<Row>("SELECT key, value, updated_at FROM config ORDER BY key");
    return r.rows.map(toEntry);
  }

  async delete(key: string): Promise<boolean> {
    const r = await this.db.query("DELETE FROM config WHERE key = $1", [key]);
    return r.rowCount > 0;
  }
}
