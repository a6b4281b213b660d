/**
 * In-memory implementations of the federation stores (and of the ValueStore / SecurityStore
 * ports): the fakes that unit tests and the in-process demo use. They pass the same contract
 * suites as the PostgreSQL stores (test/contract/), including unique keys and references.
 */
import { RelaisError } from "../core/errors.js";
import type { Account, ApiToken, Clock, SecurityStore, StoredResource, ValueStore } from "../core/ports.js";
import { systemClock } from "../core/ports.js";
import {
  INBOX_STATUSES,
  OUTBOX_STATUSES,
  userAppAad,
  type App,
  type AppStore,
  type AuditEntry,
  type AuditLog,
  type ConfigEntry,
  type ConfigStore,
  type Consumer,
  type ConsumerStore,
  type CredentialCipher,
  type Credentials,
  type FederationStores,
  type InboxMessage,
  type InboxStatus,
  type InboxStore,
  type ListPage,
  type NewApp,
  type NewAuditEntry,
  type NewConsumer,
  type NewInboxMessage,
  type NewOutboxMessage,
  type NewUser,
  type OutboxMessage,
  type OutboxStatus,
  type OutboxStore,
  type RetryPlan,
  type SealedCredentials,
  type User,
  type UserAppInfo,
  type UserAppStore,
  type UserStore,
} from "./stores.js";

const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));
const conflict = (what: string): RelaisError =>
  new RelaisError("RELAIS_ERR_DB_CONFLICT", `${what} already exists`);
const missing = (what: string): RelaisError =>
  new RelaisError("RELAIS_ERR_DB_REFERENCE", `The record refers to a missing ${what}`);
const inUse = (what: string, id: number): RelaisError =>
  new RelaisError("RELAIS_ERR_DB_IN_USE", `${what} ${id} is still in use`, { id });
const notFound = (what: string, id: number): RelaisError =>
  new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no ${what} ${id}`, { id });
const limitOf = (limit: number | undefined, max = 1000): number =>
  Math.max(1, Math.min(max, Math.floor(limit ?? 100)));
const statusSet = <S extends string>(s: S | readonly S[] | undefined): Set<S> | null =>
  s === undefined ? null : new Set<S>(typeof s === "string" ? [s] : s);

interface UserAppRow {
  id: number;
  userId: number;
  appId: number;
  sealed: SealedCredentials | null;
  createdAt: number;
  updatedAt: number;
}

/** The shared tables: stores check references against each other like foreign keys do. */
export class MemoryTables {
  config = new Map<string, ConfigEntry>();
  apps = new Map<number, App>();
  users = new Map<number, User>();
  userApps = new Map<number, UserAppRow>();
  consumers = new Map<number, Consumer>();
  outbox = new Map<number, OutboxMessage>();
  inbox = new Map<number, InboxMessage>();
  audit: AuditEntry[] = [];
  seq = { apps: 0, users: 0, userApps: 0, consumers: 0, outbox: 0, inbox: 0, audit: 0 };
}

export class MemoryConfigStore implements ConfigStore {
  constructor(
    private readonly t: MemoryTables,
    private readonly clock: Clock,
  ) {}
  async get(key: string): Promise<ConfigEntry | null> {
    return clone(this.t.config.get(key) ?? null);
  }
  async set(key: string, value: unknown): Promise<ConfigEntry> {
    const e = { key, value: clone(value ?? null), updatedAt: this.clock.now() };
    this.t.config.set(key, e);
    return clone(e);
  }
  async list(): Promise<ConfigEntry[]> {
    return [...this.t.config.values()]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map(clone);
  }
  async delete(key: string): Promise<boolean> {
    return this.t.config.delete(key);
  }
}

export class MemoryAppStore implements AppStore {
  constructor(
    private readonly t: MemoryTables,
    private readonly clock: Clock,
  ) {}
  async add(app: NewApp): Promise<App> {
    if ([...this.t.apps.values()].some((a) => a.jid === app.jid)) throw conflict(`app ${app.jid}`);
    const defaultUserId = app.defaultUserId ?? null;
    if (defaultUserId !== null && !this.t.users.has(defaultUserId)) throw missing("user");
    const row: App = {
      id: ++this.t.seq.apps,
      name: app.name,
      jid: app.jid,
      description: app.description ?? null,
      defaultUserId,
      createdAt: this.clock.now(),
    };
    this.t.apps.set(row.id, row);
    return clone(row);
  }
  async get(id: number): Promise<App | null> {
    return clone(this.t.apps.get(id) ?? null);
  }
  async getByJid(jid: string): Promise<App | null> {
    return clone([...this.t.apps.values()].find((a) => a.jid === jid) ?? null);
  }
  async list(): Promise<App[]> {
    return [...this.t.apps.values()].sort((a, b) => a.id - b.id).map(clone);
  }
  async setDefaultUser(id: number, userId: number | null): Promise<App> {
    const app = this.t.apps.get(id);
    if (!app) throw notFound("app", id);
    if (userId !== null && !this.t.users.has(userId)) throw missing("user");
    app.defaultUserId = userId;
    return clone(app);
  }
  async remove(id: number): Promise<boolean> {
    if (!this.t.apps.has(id)) return false;
    if ([...this.t.userApps.values()].some((u) => u.appId === id)) throw inUse("app", id);
    if ([...this.t.consumers.values()].some((c) => c.consumerAppId === id)) throw inUse("app", id);
    return this.t.apps.delete(id);
  }
}

export class MemoryUserStore implements UserStore {
  constructor(
    private readonly t: MemoryTables,
    private readonly clock: Clock,
  ) {}
  async add(user: NewUser): Promise<User> {
    if ([...this.t.users.values()].some((u) => u.federatedId === user.federatedId))
      throw conflict(`user ${user.federatedId}`);
    const row: User = {
      id: ++this.t.seq.users,
      federatedId: user.federatedId,
      displayName: user.displayName ?? null,
      createdAt: this.clock.now(),
    };
    this.t.users.set(row.id, row);
    return clone(row);
  }
  async get(id: number): Promise<User | null> {
    return clone(this.t.users.get(id) ?? null);
  }
  async getByFederatedId(federatedId: string): Promise<User | null> {
    return clone([...this.t.users.values()].find((u) => u.federatedId === federatedId) ?? null);
  }
  async list(): Promise<User[]> {
    return [...this.t.users.values()].sort((a, b) => a.id - b.id).map(clone);
  }
  async remove(id: number): Promise<boolean> {
    if (!this.t.users.has(id)) return false;
    if ([...this.t.userApps.values()].some((u) => u.userId === id)) throw inUse("user", id);
    for (const app of this.t.apps.values()) if (app.defaultUserId === id) app.defaultUserId = null;
    return this.t.users.delete(id);
  }
}

const toInfo = (r: UserAppRow): UserAppInfo => ({
  id: r.id,
  userId: r.userId,
  appId: r.appId,
  hasCredentials: r.sealed !== null,
  keyId: r.sealed?.keyId ?? null,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

export class MemoryUserAppStore implements UserAppStore {
  constructor(
    private readonly t: MemoryTables,
    private readonly cipher: CredentialCipher,
    private readonly clock: Clock,
  ) {}
  async set(userId: number, appId: number, credentials: Credentials | null): Promise<UserAppInfo> {
    if (!this.t.users.has(userId)) throw missing("user");
    if (!this.t.apps.has(appId)) throw missing("app");
    const now = this.clock.now();
    let row = [...this.t.userApps.values()].find((u) => u.userId === userId && u.appId === appId);
    const id = row?.id ?? this.t.seq.userApps + 1;
    const sealed = credentials === null ? null : this.cipher.seal(credentials, userAppAad(id, userId, appId));
    if (!row) {
      this.t.seq.userApps = id;
      row = { id, userId, appId, sealed, createdAt: now, updatedAt: now };
      this.t.userApps.set(id, row);
    } else {
      row.sealed = sealed;
      row.updatedAt = now;
    }
    return toInfo(row);
  }
  async get(id: number): Promise<UserAppInfo | null> {
    const r = this.t.userApps.get(id);
    return r ? toInfo(r) : null;
  }
  async find(userId: number, appId: number): Promise<UserAppInfo | null> {
    const r = [...this.t.userApps.values()].find((u) => u.userId === userId && u.appId === appId);
    return r ? toInfo(r) : null;
  }
  async list(filter: { userId?: number; appId?: number } = {}): Promise<UserAppInfo[]> {
    return [...this.t.userApps.values()]
      .filter(
        (u) =>
          (filter.userId === undefined || u.userId === filter.userId) &&
          (filter.appId === undefined || u.appId === filter.appId),
      )
      .sort((a, b) => a.id - b.id)
      .map(toInfo);
  }
  async credentials(id: number): Promise<Credentials | null> {
    const r = this.t.userApps.get(id);
    if (!r) throw notFound("user app", id);
    return r.sealed === null ? null : this.cipher.open(r.sealed, userAppAad(r.id, r.userId, r.appId));
  }
  async remove(id: number): Promise<boolean> {
    if (!this.t.userApps.has(id)) return false;
    if ([...this.t.consumers.values()].some((c) => c.userAppId === id)) throw inUse("user app", id);
    return this.t.userApps.delete(id);
  }
  async verifyKey(): Promise<{ checked: number }> {
    let checked = 0;
    for (const r of this.t.userApps.values()) {
      if (r.sealed === null) continue;
      this.cipher.open(r.sealed, userAppAad(r.id, r.userId, r.appId));
      checked++;
    }
    return { checked };
  }
  async rotate(next: CredentialCipher): Promise<number> {
    // All or nothing: compute every new ciphertext before replacing any.
    const updates: [UserAppRow, SealedCredentials][] = [];
    for (const r of this.t.userApps.values()) {
      if (r.sealed === null) continue;
      const aad = userAppAad(r.id, r.userId, r.appId);
      updates.push([r, next.seal(this.cipher.open(r.sealed, aad), aad)]);
    }
    const now = this.clock.now();
    for (const [r, sealed] of updates) {
      r.sealed = sealed;
      r.updatedAt = now;
    }
    return updates.length;
  }
}

export class MemoryConsumerStore implements ConsumerStore {
  constructor(
    private readonly t: MemoryTables,
    private readonly clock: Clock,
  ) {}
  async add(c: NewConsumer): Promise<Consumer> {
    if (!this.t.userApps.has(c.userAppId)) throw missing("user app");
    if (!this.t.apps.has(c.consumerAppId)) throw missing("app");
    const row: Consumer = {
      id: ++this.t.seq.consumers,
      userAppId: c.userAppId,
      consumerAppId: c.consumerAppId,
      selector: c.selector,
      mapping: clone(c.mapping ?? null),
      enabled: c.enabled ?? true,
      schedule: c.schedule ?? null,
      realtime: c.realtime ?? false,
      lastRunAt: null,
      cursor: null,
      createdAt: this.clock.now(),
    };
    this.t.consumers.set(row.id, row);
    return clone(row);
  }
  async get(id: number): Promise<Consumer | null> {
    return clone(this.t.consumers.get(id) ?? null);
  }
  async list(
    filter: { enabled?: boolean; userAppId?: number; consumerAppId?: number } = {},
  ): Promise<Consumer[]> {
    return [...this.t.consumers.values()]
      .filter(
        (c) =>
          (filter.enabled === undefined || c.enabled === filter.enabled) &&
          (filter.userAppId === undefined || c.userAppId === filter.userAppId) &&
          (filter.consumerAppId === undefined || c.consumerAppId === filter.consumerAppId),
      )
      .sort((a, b) => a.id - b.id)
      .map(clone);
  }
  async setEnabled(id: number, enabled: boolean): Promise<Consumer> {
    const c = this.t.consumers.get(id);
    if (!c) throw notFound("consumer", id);
    c.enabled = enabled;
    return clone(c);
  }
  async recordRun(id: number, at: number, cursor: unknown): Promise<void> {
    const c = this.t.consumers.get(id);
    if (!c) throw notFound("consumer", id);
    c.lastRunAt = at;
    c.cursor = clone(cursor ?? null);
  }
  async remove(id: number): Promise<boolean> {
    if (!this.t.consumers.has(id)) return false;
    for (const m of this.t.outbox.values()) if (m.consumerId === id) m.consumerId = null;
    return this.t.consumers.delete(id);
  }
}

const countBy = <S extends string>(
  statuses: readonly S[],
  rows: Iterable<{ status: S }>,
): Record<S, number> => {
  const out = Object.fromEntries(statuses.map((s) => [s, 0])) as Record<S, number>;
  for (const r of rows) out[r.status]++;
  return out;
};

function page<S extends string, R extends { id: number; status: S }>(rows: Iterable<R>, p: ListPage<S>): R[] {
  const set = statusSet(p.status);
  const after = p.afterId ?? 0;
  return [...rows]
    .filter((r) => r.id > after && (set === null || set.has(r.status)))
    .sort((a, b) => a.id - b.id)
    .slice(0, limitOf(p.limit))
    .map(clone);
}

const due = <R extends { id: number; nextAttemptAt: number }>(a: R, b: R): number =>
  a.nextAttemptAt - b.nextAttemptAt || a.id - b.id;

export class MemoryOutboxStore implements OutboxStore {
  constructor(
    private readonly t: MemoryTables,
    private readonly clock: Clock,
  ) {}
  private byMessageId(messageId: string): OutboxMessage | undefined {
    for (const m of this.t.outbox.values()) if (m.messageId === messageId) return m;
    return undefined;
  }
  async enqueue(messages: readonly NewOutboxMessage[]): Promise<string[]> {
    for (const m of messages)
      if (m.consumerId !== null && !this.t.consumers.has(m.consumerId)) throw missing("consumer");
    const now = this.clock.now();
    const seen = new Set([...this.t.outbox.values()].map((m) => m.messageId));
    const inserted: string[] = [];
    for (const m of messages) {
      if (seen.has(m.messageId)) continue;
      seen.add(m.messageId);
      const row: OutboxMessage = {
        id: ++this.t.seq.outbox,
        messageId: m.messageId,
        consumerId: m.consumerId,
        toJid: m.toJid,
        federatedUser: m.federatedUser,
        body: m.body,
        recordCount: m.recordCount,
        status: "pending",
        attempts: 0,
        nextAttemptAt: m.notBefore ?? now,
        lastError: null,
        claimedBy: null,
        createdAt: now,
        updatedAt: now,
      };
      this.t.outbox.set(row.id, row);
      inserted.push(m.messageId);
    }
    return inserted;
  }
  async claim(limit: number, owner: string): Promise<OutboxMessage[]> {
    const now = this.clock.now();
    const rows = [...this.t.outbox.values()]
      .filter((m) => m.status === "pending" && m.nextAttemptAt <= now)
      .sort(due)
      .slice(0, limitOf(limit, 10_000));
    for (const m of rows)
      Object.assign(m, { status: "sending", attempts: m.attempts + 1, claimedBy: owner, updatedAt: now });
    return rows.sort((a, b) => a.id - b.id).map(clone);
  }
  async markSent(messageIds: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of new Set(messageIds)) {
      const m = this.byMessageId(id);
      if (m?.status === "sending") {
        Object.assign(m, { status: "sent", updatedAt: this.clock.now() });
        n++;
      }
    }
    return n;
  }
  async markDelivered(messageIds: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of new Set(messageIds)) {
      const m = this.byMessageId(id);
      if (m && m.status !== "delivered") {
        Object.assign(m, { status: "delivered", claimedBy: null, updatedAt: this.clock.now() });
        n++;
      }
    }
    return n;
  }
  async fail(messageId: string, plan: RetryPlan): Promise<OutboxStatus | null> {
    const m = this.byMessageId(messageId);
    if (!m || (m.status !== "sending" && m.status !== "sent")) return null;
    Object.assign(m, {
      status: m.attempts >= plan.maxAttempts ? "dead" : "pending",
      nextAttemptAt: plan.nextAttemptAt,
      lastError: plan.error,
      claimedBy: null,
      updatedAt: this.clock.now(),
    });
    return m.status;
  }
  async markDead(messageId: string, error: string): Promise<boolean> {
    const m = this.byMessageId(messageId);
    if (!m || m.status === "delivered") return false;
    Object.assign(m, { status: "dead", lastError: error, claimedBy: null, updatedAt: this.clock.now() });
    return true;
  }
  async release(options: { owner?: string; claimedBefore?: number } = {}): Promise<number> {
    let n = 0;
    const now = this.clock.now();
    for (const m of this.t.outbox.values()) {
      if (m.status !== "sending") continue;
      if (options.owner !== undefined && m.claimedBy !== options.owner) continue;
      if (options.claimedBefore !== undefined && !(m.updatedAt < options.claimedBefore)) continue;
      Object.assign(m, { status: "pending", claimedBy: null, updatedAt: now });
      n++;
    }
    return n;
  }
  async expedite(toJid: string): Promise<number> {
    let n = 0;
    const now = this.clock.now();
    for (const m of this.t.outbox.values()) {
      if (m.status !== "pending" || m.toJid.toLowerCase() !== toJid.toLowerCase() || !(m.nextAttemptAt > now))
        continue;
      Object.assign(m, { nextAttemptAt: now, updatedAt: now });
      n++;
    }
    return n;
  }
  async unclaim(messageIds: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of new Set(messageIds)) {
      const m = this.byMessageId(id);
      if (!m || m.status !== "sending") continue;
      Object.assign(m, {
        status: "pending",
        claimedBy: null,
        attempts: Math.max(0, m.attempts - 1),
        updatedAt: this.clock.now(),
      });
      n++;
    }
    return n;
  }
  async requeueUnacknowledged(sentBefore: number): Promise<number> {
    let n = 0;
    const now = this.clock.now();
    for (const m of this.t.outbox.values()) {
      if (m.status !== "sent" || !(m.updatedAt < sentBefore)) continue;
      Object.assign(m, { status: "pending", claimedBy: null, nextAttemptAt: now, updatedAt: now });
      n++;
    }
    return n;
  }
  async get(messageId: string): Promise<OutboxMessage | null> {
    return clone(this.byMessageId(messageId) ?? null);
  }
  async list(p: ListPage<OutboxStatus> = {}): Promise<OutboxMessage[]> {
    return page(this.t.outbox.values(), p);
  }
  async countByStatus(): Promise<Record<OutboxStatus, number>> {
    return countBy(OUTBOX_STATUSES, this.t.outbox.values());
  }
  async retry(ids?: readonly number[]): Promise<number> {
    const wanted = ids === undefined ? null : new Set(ids);
    const now = this.clock.now();
    let n = 0;
    for (const m of this.t.outbox.values()) {
      if (m.status !== "dead" || (wanted !== null && !wanted.has(m.id))) continue;
      Object.assign(m, {
        status: "pending",
        attempts: 0,
        nextAttemptAt: now,
        claimedBy: null,
        updatedAt: now,
      });
      n++;
    }
    return n;
  }
  async purgeDelivered(before: number): Promise<number> {
    let n = 0;
    for (const [id, m] of this.t.outbox)
      if (m.status === "delivered" && m.updatedAt < before) {
        this.t.outbox.delete(id);
        n++;
      }
    return n;
  }
}

export class MemoryInboxStore implements InboxStore {
  constructor(
    private readonly t: MemoryTables,
    private readonly clock: Clock,
  ) {}
  private findRow(senderJid: string, messageId: string): InboxMessage | undefined {
    for (const m of this.t.inbox.values())
      if (m.senderJid === senderJid && m.messageId === messageId) return m;
    return undefined;
  }
  private insert(m: NewInboxMessage): { inserted: boolean; row: InboxMessage } {
    const existing = this.findRow(m.senderJid, m.messageId);
    if (existing) return { inserted: false, row: existing };
    const now = this.clock.now();
    const row: InboxMessage = {
      id: ++this.t.seq.inbox,
      senderJid: m.senderJid,
      messageId: m.messageId,
      federatedUser: m.federatedUser,
      consumerRef: m.consumerRef,
      body: m.body,
      status: m.status ?? "pending",
      attempts: 0,
      nextAttemptAt: now,
      lastError: m.lastError ?? null,
      claimedBy: null,
      receivedAt: now,
      updatedAt: now,
    };
    this.t.inbox.set(row.id, row);
    return { inserted: true, row };
  }
  async insertIfAbsent(message: NewInboxMessage): Promise<{ inserted: boolean; message: InboxMessage }> {
    const { inserted, row } = this.insert(message);
    return { inserted, message: clone(row) };
  }
  async insertManyIfAbsent(
    messages: readonly NewInboxMessage[],
  ): Promise<{ inserted: boolean; id: number }[]> {
    return messages.map((m) => {
      const { inserted, row } = this.insert(m);
      return { inserted, id: row.id };
    });
  }
  async claim(limit: number, owner: string): Promise<InboxMessage[]> {
    const now = this.clock.now();
    const rows = [...this.t.inbox.values()]
      .filter((m) => m.status === "pending" && m.nextAttemptAt <= now)
      .sort(due)
      .slice(0, limitOf(limit, 10_000));
    for (const m of rows)
      Object.assign(m, { status: "applying", attempts: m.attempts + 1, claimedBy: owner, updatedAt: now });
    return rows.sort((a, b) => a.id - b.id).map(clone);
  }
  async markApplied(ids: readonly number[]): Promise<number> {
    let n = 0;
    for (const id of new Set(ids)) {
      const m = this.t.inbox.get(id);
      if (m && m.status !== "applied") {
        Object.assign(m, {
          status: "applied",
          claimedBy: null,
          lastError: null,
          updatedAt: this.clock.now(),
        });
        n++;
      }
    }
    return n;
  }
  async markRejected(id: number, error: string): Promise<boolean> {
    const m = this.t.inbox.get(id);
    if (!m || m.status === "applied") return false;
    Object.assign(m, { status: "rejected", lastError: error, claimedBy: null, updatedAt: this.clock.now() });
    return true;
  }
  async fail(id: number, plan: RetryPlan): Promise<InboxStatus | null> {
    const m = this.t.inbox.get(id);
    if (!m || m.status !== "applying") return null;
    Object.assign(m, {
      status: m.attempts >= plan.maxAttempts ? "dead" : "pending",
      nextAttemptAt: plan.nextAttemptAt,
      lastError: plan.error,
      claimedBy: null,
      updatedAt: this.clock.now(),
    });
    return m.status;
  }
  async release(options: { owner?: string; claimedBefore?: number } = {}): Promise<number> {
    let n = 0;
    const now = this.clock.now();
    for (const m of this.t.inbox.values()) {
      if (m.status !== "applying") continue;
      if (options.owner !== undefined && m.claimedBy !== options.owner) continue;
      if (options.claimedBefore !== undefined && !(m.updatedAt < options.claimedBefore)) continue;
      Object.assign(m, { status: "pending", claimedBy: null, updatedAt: now });
      n++;
    }
    return n;
  }
  async get(id: number): Promise<InboxMessage | null> {
    return clone(this.t.inbox.get(id) ?? null);
  }
  async find(senderJid: string, messageId: string): Promise<InboxMessage | null> {
    return clone(this.findRow(senderJid, messageId) ?? null);
  }
  async list(p: ListPage<InboxStatus> = {}): Promise<InboxMessage[]> {
    return page(this.t.inbox.values(), p);
  }
  async countByStatus(): Promise<Record<InboxStatus, number>> {
    return countBy(INBOX_STATUSES, this.t.inbox.values());
  }
  async retry(ids?: readonly number[]): Promise<number> {
    const wanted = ids === undefined ? null : new Set(ids);
    const now = this.clock.now();
    let n = 0;
    for (const m of this.t.inbox.values()) {
      const eligible =
        wanted === null
          ? m.status === "dead"
          : wanted.has(m.id) && (m.status === "dead" || m.status === "rejected");
      if (!eligible) continue;
      Object.assign(m, {
        status: "pending",
        attempts: 0,
        nextAttemptAt: now,
        claimedBy: null,
        updatedAt: now,
      });
      n++;
    }
    return n;
  }
  async purgeDone(before: number): Promise<number> {
    let n = 0;
    for (const [id, m] of this.t.inbox)
      if ((m.status === "applied" || m.status === "rejected") && m.updatedAt < before) {
        this.t.inbox.delete(id);
        n++;
      }
    return n;
  }
}

export class MemoryAuditLog implements AuditLog {
  constructor(
    private readonly t: MemoryTables,
    private readonly clock: Clock,
  ) {}
  async append(e: NewAuditEntry): Promise<void> {
    this.t.audit.push({
      id: ++this.t.seq.audit,
      at: e.at ?? this.clock.now(),
      actor: e.actor,
      action: e.action,
      subject: e.subject,
      outcome: e.outcome,
      details: clone(e.details),
    });
  }
  async list(
    filter: { action?: string; actor?: string; limit?: number; beforeId?: number } = {},
  ): Promise<AuditEntry[]> {
    return this.t.audit
      .filter(
        (e) =>
          (filter.action === undefined || e.action === filter.action) &&
          (filter.actor === undefined || e.actor === filter.actor) &&
          (filter.beforeId === undefined || e.id < filter.beforeId),
      )
      .sort((a, b) => b.id - a.id)
      .slice(0, limitOf(filter.limit))
      .map(clone);
  }
}

/** ValueStore in memory (the ports.ts contract). */
export class MemoryValueStore implements ValueStore {
  private readonly rows = new Map<string, StoredResource>();
  async loadAll(): Promise<StoredResource[]> {
    return [...this.rows.values()].map(clone);
  }
  async saveBatch(resources: readonly StoredResource[]): Promise<void> {
    for (const r of resources) this.rows.set(JSON.stringify([r.provider, r.service, r.resource]), clone(r));
  }
  async remove(provider: string, service?: string, resource?: string): Promise<void> {
    for (const [k, r] of this.rows)
      if (
        r.provider === provider &&
        (service === undefined || r.service === service) &&
        (service === undefined || resource === undefined || r.resource === resource)
      )
        this.rows.delete(k);
  }
}

/** SecurityStore in memory (the ports.ts contract). */
export class MemorySecurityStore implements SecurityStore {
  private readonly accounts = new Map<string, Account>();
  private readonly tokens = new Map<string, ApiToken>();
  private policy: unknown = null;
  async listAccounts(): Promise<Account[]> {
    return [...this.accounts.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(clone);
  }
  async getAccount(name: string): Promise<Account | null> {
    return clone(this.accounts.get(name) ?? null);
  }
  async putAccount(account: Account): Promise<void> {
    this.accounts.set(account.name, clone(account));
  }
  async deleteAccount(name: string): Promise<boolean> {
    for (const [h, t] of this.tokens) if (t.account === name) this.tokens.delete(h);
    return this.accounts.delete(name);
  }
  async findToken(tokenHash: string): Promise<ApiToken | null> {
    return clone(this.tokens.get(tokenHash) ?? null);
  }
  async listTokens(account?: string): Promise<ApiToken[]> {
    return [...this.tokens.values()]
      .filter((t) => account === undefined || t.account === account)
      .sort((a, b) => a.createdAt - b.createdAt || (a.tokenHash < b.tokenHash ? -1 : 1))
      .map(clone);
  }
  async putToken(token: ApiToken): Promise<void> {
    if (!this.accounts.has(token.account)) throw missing("account");
    this.tokens.set(token.tokenHash, clone(token));
  }
  async deleteToken(tokenHash: string): Promise<boolean> {
    return this.tokens.delete(tokenHash);
  }
  async loadPolicy(): Promise<unknown> {
    return clone(this.policy);
  }
  async savePolicy(policy: unknown): Promise<void> {
    this.policy = clone(policy ?? null);
  }
}

/** Every federation store over one set of in-memory tables. */
export function createMemoryStores(
  cipher: CredentialCipher,
  clock: Clock = systemClock,
  t: MemoryTables = new MemoryTables(),
): FederationStores {
  return {
    config: new MemoryConfigStore(t, clock),
    apps: new MemoryAppStore(t, clock),
    users: new MemoryUserStore(t, clock),
    userApps: new MemoryUserAppStore(t, cipher, clock),
    consumers: new MemoryConsumerStore(t, clock),
    outbox: new MemoryOutboxStore(t, clock),
    inbox: new MemoryInboxStore(t, clock),
    audit: new MemoryAuditLog(t, clock),
  };
}
