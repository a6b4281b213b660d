import { RelaisError } from "../../core/errors.js";
import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import {
  userAppAad,
  type CredentialCipher,
  type Credentials,
  type UserAppInfo,
  type UserAppStore,
} from "../../federation/stores.js";
import type { Database, Queryable } from "./database.js";
import { deleting } from "./deleting.js";
import { bytes, ms, num, ts } from "./sql-values.js";

interface Row {
  id: unknown;
  user_id: unknown;
  app_id: unknown;
  has_credentials: boolean;
  key_id: string | null;
  created_at: unknown;
  updated_at: unknown;
}

// Never selects the ciphertext: listing cannot leak it.
const COLS =
  "id, user_id, app_id, credentials_ciphertext IS NOT NULL AS has_credentials, key_id, created_at, updated_at";

const toInfo = (r: Row): UserAppInfo => ({
  id: num(r.id),
  userId: num(r.user_id),
  appId: num(r.app_id),
  hasCredentials: r.has_credentials,
  keyId: r.key_id,
  createdAt: ms(r.created_at),
  updatedAt: ms(r.updated_at),
});

interface SealedRow {
  id: unknown;
  user_id: unknown;
  app_id: unknown;
  credentials_ciphertext: unknown;
  key_id: string;
}

export class PgUserAppStore implements UserAppStore {
  constructor(
    private readonly db: Database,
    private readonly cipher: CredentialCipher,
    private readonly clock: Clock = systemClock,
  ) {}

  set(userId: number, appId: number, credentials: Credentials | null): Promise<UserAppInfo> {
    const now = ts(this.clock.now());
    return this.db.transaction(async (tx) => {
      // Upsert first: the row id is part of the associated data of its ciphertext.
      const up = await tx.query<{ id: unknown }>(
        `INSERT INTO user_apps (user_id, app_id, created_at, updated_at)
         VALUES ($1, $2, $3::timestamptz, $3::timestamptz)
         ON CONFLICT (user_id, app_id) DO UPDATE SET updated_at = EXCLUDED.updated_at
         RETURNING id`,
        [userId, appId, now],
      );
      const id = num(up.rows[0]!.id);
      const sealed =
        credentials === null ? null : this.cipher.seal(credentials, userAppAad(id, userId, appId));
      const r = await tx.query<Row>(
        `UPDATE user_apps SET credentials_ciphertext = $2, key_id = $3, updated_at = $4::timestamptz
         WHERE id = $1 RETURNING ${COLS}`,
        [id, sealed ? Buffer.from(sealed.ciphertext) : null, sealed?.keyId ?? null, now],
      );
      return toInfo(r.rows[0]!);
    });
  }

  async get(id: number): Promise<UserAppInfo | null> {
    const r = await this.db.query<Row>(`SELECT ${COLS} FROM user_apps WHERE id = $1`, [id]);
    return r.rows[0] ? toInfo(r.rows[0]) : null;
  }

  async find(userId: number, appId: number): Promise<UserAppInfo | null> {
    const r = await this.db.query<Row>(`SELECT ${COLS} FROM user_apps WHERE user_id = $1 AND app_id = $2`, [
      userId,
      appId,
    ]);
    return r.rows[0] ? toInfo(r.rows[0]) : null;
  }

  async list(filter: { userId?: number; appId?: number } = {}): Promise<UserAppInfo[]> {
    const r = await this.db.query<Row>(
      `SELECT ${COLS} FROM user_apps
       WHERE ($1::bigint IS NULL OR user_id = $1) AND ($2::bigint IS NULL OR app_id = $2)
       ORDER BY id`,
      [filter.userId ?? null, filter.appId ?? null],
    );
    return r.rows.map(toInfo);
  }

  async credentials(id: number): Promise<Credentials | null> {
    const r = await this.db.query<SealedRow & { has: boolean }>(
      "SELECT id, user_id, app_id, credentials_ciphertext, key_id FROM user_apps WHERE id = $1",
      [id],
    );
    const row = r.rows[0];
    if (!row) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no user app ${id}`, { id });
    if (row.credentials_ciphertext === null) return null;
    return this.openRow(row, this.cipher);
  }

  remove(id: number): Promise<boolean> {
    return deleting("user app", id, async () => {
      const r = await this.db.query("DELETE FROM user_apps WHERE id = $1", [id]);
      return r.rowCount > 0;
    });
  }

  async verifyKey(): Promise<{ checked: number }> {
    const rows = await this.sealedRows(this.db);
    for (const row of rows) this.openRow(row, this.cipher);
    return { checked: rows.length };
  }

  rotate(next: CredentialCipher): Promise<number> {
    const now = ts(this.clock.now());
    return this.db.transaction(async (tx) => {
      const rows = await this.sealedRows(tx, true);
      for (const row of rows) {
        const plain = this.openRow(row, this.cipher);
        const sealed = next.seal(plain, userAppAad(num(row.id), num(row.user_id), num(row.app_id)));
        await tx.query(
          `UPDATE user_apps SET credentials_ciphertext = $2, key_id = $3, updated_at = $4::timestamptz
           WHERE id = $1`,
          [num(row.id), Buffer.from(sealed.ciphertext), sealed.keyId, now],
        );
      }
      return rows.length;
    });
  }

  private async sealedRows(q: Queryable, lock = false): Promise<SealedRow[]> {
    const r = await q.query<SealedRow>(
      `SELECT id, user_id, app_id, credentials_ciphertext, key_id FROM user_apps
       WHERE credentials_ciphertext IS NOT NULL ORDER BY id${lock ? " FOR UPDATE" : ""}`,
    );
    return r.rows;
  }

  private openRow(row: SealedRow, cipher: CredentialCipher): Credentials {
    return cipher.open(
      { ciphertext: bytes(row.credentials_ciphertext), keyId: row.key_id },
      userAppAad(num(row.id), num(row.user_id), num(row.app_id)),
    );
  }
}
