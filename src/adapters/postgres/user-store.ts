import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { NewUser, User, UserStore } from "../../federation/stores.js";
import type { Queryable } from "./database.js";
import { deleting } from "./deleting.js";
import { ms, num, ts } from "./sql-values.js";

interface UserRow {
  id: unknown;
  federated_id: string;
  display_name: string | null;
  created_at: unknown;
}

const USER_COLS = "id, federated_id, display_name, created_at";

const toUser = (r: UserRow): User => ({
  id: num(r.id),
  federatedId: r.federated_id,
  displayName: r.display_name,
  createdAt: ms(r.created_at),
});

export class PgUserStore implements UserStore {
  constructor(
    private readonly db: Queryable,
    private readonly clock: Clock = systemClock,
  ) {}

  async add(user: NewUser): Promise<User> {
    const r = await this.db.query<UserRow>(
      `INSERT INTO users (federated_id, display_name, created_at) VALUES ($1, $2, $3::timestamptz)
       RETURNING ${USER_COLS}`,
      [user.federatedId, user.displayName ?? null, ts(this.clock.now())],
    );
    return toUser(r.rows[0]!);
  }

  async get(id: number): Promise<User | null> {
    const r = await this.db.query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = $1`, [id]);
    return r.rows[0] ? toUser(r.rows[0]) : null;
  }

  async getByFederatedId(federatedId: string): Promise<User | null> {
    const r = await this.db.query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE federated_id = $1`, [
      federatedId,
    ]);
    return r.rows[0] ? toUser(r.rows[0]) : null;
  }

  async list(): Promise<User[]> {
    const r = await this.db.query<UserRow>(`SELECT ${USER_COLS} FROM users ORDER BY id`);
    return r.rows.map(toUser);
  }

  remove(id: number): Promise<boolean> {
    return deleting("user", id, async () => {
      const r = await this.db.query("DELETE FROM users WHERE id = $1", [id]);
      return r.rowCount > 0;
    });
  }
}
