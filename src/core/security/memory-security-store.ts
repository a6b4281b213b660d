/** SecurityStore in memory: for unit tests and the demo. */
import type { Account, ApiToken, SecurityStore } from "../ports.js";

export class MemorySecurityStore implements SecurityStore {
  private readonly accounts = new Map<string, Account>();
  private readonly tokens = new Map<string, ApiToken>();
  private policy: unknown = null;

  async listAccounts(): Promise<Account[]> {
    return [...this.accounts.values()].map((a) => ({ ...a }));
  }
  async getAccount(name: string): Promise<Account | null> {
    const a = this.accounts.get(name);
    return a ? { ...a } : null;
  }
  async putAccount(account: Account): Promise<void> {
    this.accounts.set(account.name, { ...account });
  }
  async deleteAccount(name: string): Promise<boolean> {
    for (const [h, t] of this.tokens) if (t.account === name) this.tokens.delete(h);
    return this.accounts.delete(name);
  }
  async findToken(tokenHash: string): Promise<ApiToken | null> {
    const t = this.tokens.get(tokenHash);
    return t ? { ...t } : null;
  }
  async listTokens(account?: string): Promise<ApiToken[]> {
    return [...this.tokens.values()]
      .filter((t) => account === undefined || t.account === account)
      .map((t) => ({ ...t }));
  }
  async putToken(token: ApiToken): Promise<void> {
    this.tokens.set(token.tokenHash, { ...token });
  }
  async deleteToken(tokenHash: string): Promise<boolean> {
    return this.tokens.delete(tokenHash);
  }
  async loadPolicy(): Promise<unknown> {
    return this.policy === null ? null : structuredClone(this.policy);
  }
  async savePolicy(policy: unknown): Promise<void> {
    this.policy = structuredClone(policy);
  }
}
