/** Local accounts, API tokens and the policy tree (ports.ts SecurityStore). */
import type { AccessLevel, Account, ApiToken, SecurityStore } from "../../core/ports.js";
import type { Database } from "./database.js";
import { ms, optMs, str, ts } from "./sql-values.js";

interface AccountRow {
  name: string;
  level: AccessLevel;
  password_hash: string | null;
  created_at: unknown;
}

interface TokenRow {
  token_hash: string;
  account: string;
  label: string;
  created_at: unknown;
  expires_at: unknown;
}

const toAccount = (r: AccountRow): Account => ({
  name: r.name,
  level: r.level,
  passwordHash: r.password_hash,
  createdAt: ms(r.created_at),
});

const toToken = (r: TokenRow): ApiToken => ({
  tokenHash: r.token_hash,
  account: r.account,
  label: r.label,
  createdAt: ms(r.created_at),
  expiresAt: optMs(r.expires_at),
});

export class PgSecurityStore implements SecurityStore {
  constructor(private readonly db: Database) {}

  async listAccounts(): Promise<Account[]> {
    const r = await this.db.query<AccountRow>(
      "SELECT name, level, password_hash, created_at FROM accounts ORDER BY name",
    );
    return r.rows.map(toAccount);
  }

  async getAccount(name: string): Promise<Account | null> {
    const r = await this.db.query<AccountRow>(
      "SELECT name, level, password_hash, created_at FROM accounts WHERE name = $1",
      [name],
    );
    return r.rows[0] ? toAccount(r.rows[0]) : null;
  }

  async putAccount(a: Account): Promise<void> {
    await this.db.query(
      `INSERT INTO accounts (name, level, password_hash, created_at) VALUES ($1, $2, $3, $4::timestamptz)
       ON CONFLICT (name) DO UPDATE SET level = EXCLUDED.level, password_hash = EXCLUDED.password_hash,
                                        created_at = EXCLUDED.created_at`,
      [a.name, a.level, a.passwordHash, ts(a.createdAt)],
    );
  }

  async deleteAccount(name: string): Promise<boolean> {
    // api_tokens go with it (ON DELETE CASCADE).
    const r = await this.db.query("DELETE FROM accounts WHERE name = $1", [name]);
    return r.rowCount > 0;
  }

  async findToken(tokenHash: string): Promise<ApiToken | null> {
    const r = await this.db.query<TokenRow>(
      "SELECT token_hash, account, label, created_at, expires_at FROM api_tokens WHERE token_hash = $1",
      [tokenHash],
    );
    return r.rows[0] ? toToken(r.rows[0]) : null;
  }

  async listTokens(account?: string): Promise<ApiToken[]> {
    const r = await this.db.query<TokenRow>(
      `SELECT token_hash, account, label, created_at, expires_at FROM api_tokens
       WHERE $1::text IS NULL OR account = $1 ORDER BY created_at, token_hash`,
      [str(account)],
    );
    return r.rows.map(toToken);
  }

  async putToken(t: ApiToken): Promise<void> {
    await this.db.query(
      `INSERT INTO api_tokens (token_hash, account, label, created_at, expires_at)
       VALUES ($1, $2, $3, $4::timestamptz, $5::timestamptz)
       ON CONFLICT (token_hash) DO UPDATE SET account = EXCLUDED.account, label = EXCLUDED.label,
                                              created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
      [t.tokenHash, t.account, t.label, ts(t.createdAt), t.expiresAt === null ? null : ts(t.expiresAt)],
    );
  }

  async deleteToken(tokenHash: string): Promise<boolean> {
    const r = await this.db.query("DELETE FROM api_tokens WHERE token_hash = $1", [tokenHash]);
    return r.rowCount > 0;
  }

  async loadPolicy(): Promise<unknown> {
    const r = await this.db.query<{ policy: unknown }>("SELECT policy FROM security_policy WHERE id = 1");
    return r.rows[0] ? r.rows[0].policy : null;
  }

  async savePolicy(policy: unknown): Promise<void> {
    await this.db.query(
      `INSERT INTO security_policy (id, policy, updated_at) VALUES (1, $1::jsonb, now())
       ON CONFLICT (id) DO UPDATE SET policy = EXCLUDED.policy, updated_at = EXCLUDED.updated_at`,
      [JSON.stringify(policy ?? null)],
    );
  }
}
