/**
 * The federation's persistence ports (seed model §4: Config, App, User, UserApp, Consumer,
 * Inbox, Outbox) plus the audit log. Pure types: implemented by src/adapters/postgres/*-store.ts
 * and by src/federation/memory-stores.ts; test/contract/ holds the suites both must pass.
 *
 * Times are milliseconds since the Unix epoch. Ids are the database's integer ids.
 * Errors: RELAIS_ERR_DB_CONFLICT (unique key taken), RELAIS_ERR_DB_REFERENCE (points at a missing
 * record), RELAIS_ERR_DB_IN_USE (removing a record others still point at),
 * RELAIS_ERR_DB_UNAVAILABLE (retryable).
 */

// ---- Config (runtime configuration, key → JSON value) ----------------------------------------

export interface ConfigEntry {
  key: string;
  value: unknown;
  updatedAt: number;
}

export interface ConfigStore {
  get(key: string): Promise<ConfigEntry | null>;
  /** Insert or replace. */
  set(key: string, value: unknown): Promise<ConfigEntry>;
  list(): Promise<ConfigEntry[]>;
  delete(key: string): Promise<boolean>;
}

// ---- Apps (federation members known to this gateway) -----------------------------------------

export interface App {
  id: number;
  name: string;
  /** Bare JID, unique. */
  jid: string;
  description: string | null;
  /** User applied under when a message from this App carries no `relais/@user`. */
  defaultUserId: number | null;
  createdAt: number;
}

export interface NewApp {
  name: string;
  jid: string;
  description?: string | null;
  defaultUserId?: number | null;
}

export interface AppStore {
  add(app: NewApp): Promise<App>;
  get(id: number): Promise<App | null>;
  getByJid(jid: string): Promise<App | null>;
  /** Ordered by id. */
  list(): Promise<App[]>;
  setDefaultUser(id: number, userId: number | null): Promise<App>;
  /** False when absent; RELAIS_ERR_DB_IN_USE while user apps or consumers refer to it. */
  remove(id: number): Promise<boolean>;
}

// ---- Users (federated identities) ------------------------------------------------------------

export interface User {
  id: number;
  /** Unique across the federation, e.g. alice@example.org. */
  federatedId: string;
  displayName: string | null;
  createdAt: number;
}

export interface NewUser {
  federatedId: string;
  displayName?: string | null;
}

export interface UserStore {
  add(user: NewUser): Promise<User>;
  get(id: number): Promise<User | null>;
  getByFederatedId(federatedId: string): Promise<User | null>;
  list(): Promise<User[]>;
  /** False when absent; RELAIS_ERR_DB_IN_USE while user apps refer to it. */
  remove(id: number): Promise<boolean>;
}

// ---- UserApps (a user's credentials for an application, encrypted at rest) -------------------

/** A UserApp's credentials: a JSON object such as {username, password}, {token} or {account}. */
export type Credentials = Record<string, unknown>;

/** What lists and APIs show: never the credentials, only whether they are set. */
export interface UserAppInfo {
  id: number;
  userId: number;
  appId: number;
  hasCredentials: boolean;
  /** Id of the key the credentials are encrypted with, or null. */
  keyId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface SealedCredentials {
  ciphertext: Uint8Array;
  keyId: string;
}

/**
 * Encrypts credentials bound to their row: `aad` names the row, so a ciphertext copied to
 * another row fails to open. Implemented by src/adapters/crypto/secret-box.ts.
 */
export interface CredentialCipher {
  readonly keyId: string;
  seal(credentials: Credentials, aad: string): SealedCredentials;
  /** RELAIS_ERR_SECRET_KEY_WRONG when the key or the row does not match. */
  open(sealed: SealedCredentials, aad: string): Credentials;
}

/** The associated data binding a ciphertext to its user_apps row. */
export function userAppAad(id: number, userId: number, appId: number): string {
  return `relais:user_app:${id}:user:${userId}:app:${appId}`;
}

export interface UserAppStore {
  /**
   * Create or replace the credentials of (user, app); credentials null clears them.
   * RELAIS_ERR_DB_REFERENCE when the user or app is missing.
   */
  set(userId: number, appId: number, credentials: Credentials | null): Promise<UserAppInfo>;
  get(id: number): Promise<UserAppInfo | null>;
  find(userId: number, appId: number): Promise<UserAppInfo | null>;
  list(filter?: { userId?: number; appId?: number }): Promise<UserAppInfo[]>;
  /** Decrypted credentials, null when none are set. RELAIS_ERR_DB_NOT_FOUND for an unknown id. */
  credentials(id: number): Promise<Credentials | null>;
  /** False when absent; RELAIS_ERR_DB_IN_USE while consumers refer to it. */
  remove(id: number): Promise<boolean>;
  /** Open every stored ciphertext: RELAIS_ERR_SECRET_KEY_WRONG if one fails (refuse to start). */
  verifyKey(): Promise<{ checked: number }>;
  /**
   * Re-encrypt every row with `next` in one transaction (all or nothing); returns the row count.
   * The store keeps using its current cipher: build a new store with `next` afterwards.
   */
  rotate(next: CredentialCipher): Promise<number>;
}

// ---- Consumers (what to extract, for whom, to which app) -------------------------------------

export interface Consumer {
  id: number;
  userAppId: number;
  consumerAppId: number;
  /** Resource pattern, e.g. `meter-*` + `/power/*`: provider/service/resource with `*` wildcards. */
  selector: string;
  /** Optional id mapping (e.g. {provider: "remote-name"}), applied before sending. */
  mapping: unknown;
  enabled: boolean;
  /** Cron expression of the push-outbox extraction; null: the default schedule. */
  schedule: string | null;
  /** Send every change as it happens rather than on the schedule. */
  realtime: boolean;
  lastRunAt: number | null;
  /** Extraction cursor (opaque JSON owned by the push-outbox job). */
  cursor: unknown;
  createdAt: number;
}

export interface NewConsumer {
  userAppId: number;
  consumerAppId: number;
  selector: string;
  mapping?: unknown;
  enabled?: boolean;
  schedule?: string | null;
  realtime?: boolean;
}

export interface ConsumerStore {
  /** RELAIS_ERR_DB_REFERENCE when the user app or the consumer app is missing. */
  add(consumer: NewConsumer): Promise<Consumer>;
  get(id: number): Promise<Consumer | null>;
  list(filter?: { enabled?: boolean; userAppId?: number; consumerAppId?: number }): Promise<Consumer[]>;
  setEnabled(id: number, enabled: boolean): Promise<Consumer>;
  /** Record an extraction run: its time and the new cursor. */
  recordRun(id: number, at: number, cursor: unknown): Promise<void>;
  remove(id: number): Promise<boolean>;
}

// ---- Outbox (messages extracted locally, waiting to be sent/acknowledged) --------------------

export type OutboxStatus = "pending" | "sending" | "sent" | "delivered" | "dead";
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ["pending", "sending", "sent", "delivered", "dead"];

export interface NewOutboxMessage {
  /** Stable id, reused on every resend (CONTRACTS.md §4). Unique. */
  messageId: string;
  consumerId: number | null;
  toJid: string;
  federatedUser: string | null;
  /** The SenML JSON pack. */
  body: string;
  recordCount: number;
  /** Earliest send time (default: now). */
  notBefore?: number;
}

export interface OutboxMessage {
  id: number;
  messageId: string;
  consumerId: number | null;
  toJid: string;
  federatedUser: string | null;
  body: string;
  recordCount: number;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  /** Instance that holds the row while status is 'sending'. */
  claimedBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ListPage<S extends string> {
  status?: S | readonly S[];
  /** Rows with id > afterId (keyset paging), ordered by id. */
  afterId?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Outcome of a failed attempt. */
export interface RetryPlan {
  error: string;
  /** When to try again if attempts remain. */
  nextAttemptAt: number;
  /** Dead-letter once attempts (already counted by claim) reach this. */
  maxAttempts: number;
}

export interface OutboxStore {
  /** Insert a batch in one transaction (multi-row); a message id already present is skipped. Returns ids inserted. */
  enqueue(messages: readonly NewOutboxMessage[]): Promise<string[]>;
  /**
   * Claim up to `limit` due pending rows (FOR UPDATE SKIP LOCKED: two instances never claim the
   * same row): status → sending, attempts + 1, claimed_by = owner. Oldest first.
   */
  claim(limit: number, owner: string): Promise<OutboxMessage[]>;
  /** sending → sent (written to the stream, waiting for the receipt). Returns rows changed. */
  markSent(messageIds: readonly string[]): Promise<number>;
  /** Any status but delivered → delivered (the XEP-0184 receipt arrived). Returns rows changed. */
  markDelivered(messageIds: readonly string[]): Promise<number>;
  /** A claimed (sending/sent) row failed: back to pending at plan.nextAttemptAt, or dead after maxAttempts. */
  fail(messageId: string, plan: RetryPlan): Promise<OutboxStatus | null>;
  /** Dead-letter at once (permanent rejection). */
  markDead(messageId: string, error: string): Promise<boolean>;
  /**
   * sending → pending (shutdown, startup recovery). owner: only that instance's rows;
   * claimedBefore: only rows claimed before that time (stale claims of a crashed instance).
   */
  release(options?: { owner?: string; claimedBefore?: number }): Promise<number>;
  /**
   * Claimed rows that were not written after all (the stream was down): sending → pending with the
   * claim's attempt given back, so an outage does not bring a row closer to the dead letters.
   */
  unclaim(messageIds: readonly string[]): Promise<number>;
  /** Pending rows to `toJid` (any case) waiting for a later attempt become due now (the peer answers again). */
  expedite(toJid: string): Promise<number>;
  /** sent rows without a receipt since `sentBefore` → pending, to be resent with the same id. */
  requeueUnacknowledged(sentBefore: number): Promise<number>;
  get(messageId: string): Promise<OutboxMessage | null>;
  list(page?: ListPage<OutboxStatus>): Promise<OutboxMessage[]>;
  countByStatus(): Promise<Record<OutboxStatus, number>>;
  /** dead → pending, attempts 0, due now. ids: row ids; omitted: every dead row. */
  retry(ids?: readonly number[]): Promise<number>;
  /** Delete delivered rows last updated before `before`. */
  purgeDelivered(before: number): Promise<number>;
}

// ---- Inbox (messages received from the federation) -------------------------------------------

export type InboxStatus = "pending" | "applying" | "applied" | "rejected" | "dead";
export const INBOX_STATUSES: readonly InboxStatus[] = ["pending", "applying", "applied", "rejected", "dead"];

export interface NewInboxMessage {
  /** Bare JID of the sender. */
  senderJid: string;
  messageId: string;
  federatedUser: string | null;
  /** The sender's consumer id (`relais/@consumer`). */
  consumerRef: string | null;
  body: string;
  /** 'applied' records a message applied directly (kept for dedup); default 'pending'. */
  status?: "pending" | "applied" | "rejected";
  lastError?: string | null;
}

export interface InboxMessage {
  id: number;
  senderJid: string;
  messageId: string;
  federatedUser: string | null;
  consumerRef: string | null;
  body: string;
  status: InboxStatus;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  claimedBy: string | null;
  receivedAt: number;
  updatedAt: number;
}

export interface InboxStore {
  /** Dedup on (senderJid, messageId): inserted false means it was already there (row = the existing one). */
  insertIfAbsent(message: NewInboxMessage): Promise<{ inserted: boolean; message: InboxMessage }>;
  /** The same for a batch, in one transaction; results in input order. */
  insertManyIfAbsent(messages: readonly NewInboxMessage[]): Promise<{ inserted: boolean; id: number }[]>;
  /** Claim due pending rows (FOR UPDATE SKIP LOCKED): status → applying, attempts + 1. */
  claim(limit: number, owner: string): Promise<InboxMessage[]>;
  markApplied(ids: readonly number[]): Promise<number>;
  /** Permanently refused (rights, unknown sender…): rejected. */
  markRejected(id: number, error: string): Promise<boolean>;
  fail(id: number, plan: RetryPlan): Promise<InboxStatus | null>;
  release(options?: { owner?: string; claimedBefore?: number }): Promise<number>;
  get(id: number): Promise<InboxMessage | null>;
  find(senderJid: string, messageId: string): Promise<InboxMessage | null>;
  list(page?: ListPage<InboxStatus>): Promise<InboxMessage[]>;
  countByStatus(): Promise<Record<InboxStatus, number>>;
  /** dead/rejected → pending, attempts 0. ids omitted: every dead row. */
  retry(ids?: readonly number[]): Promise<number>;
  /** Delete applied/rejected rows last updated before `before` (their dedup protection ends). */
  purgeDone(before: number): Promise<number>;
}

// ---- Audit log -------------------------------------------------------------------------------

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  outcome: string;
  details: Record<string, unknown> | null;
}

export type NewAuditEntry = Omit<AuditEntry, "id" | "at"> & { at?: number };

export interface AuditLog {
  append(entry: NewAuditEntry): Promise<void>;
  /** Newest first. */
  list(filter?: {
    action?: string;
    actor?: string;
    limit?: number;
    beforeId?: number;
  }): Promise<AuditEntry[]>;
}

/** Every federation store, as built by one backend. */
export interface FederationStores {
  config: ConfigStore;
  apps: AppStore;
  users: UserStore;
  userApps: UserAppStore;
  consumers: ConsumerStore;
  outbox: OutboxStore;
  inbox: InboxStore;
  audit: AuditLog;
}
