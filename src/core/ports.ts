/**
 * The interfaces adapters implement. Core code depends on these, never on a technology.
 * Times are milliseconds since the Unix epoch unless a name says otherwise.
 */
import type { ErrorCode } from "./errors.js";
import type { ProviderDeclaration, ResourceUpdate } from "./model/types.js";

/** Injected time: core never calls Date.now(). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A pino-compatible subset, so core and federation can log without importing pino. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** Anything with an idempotent lifecycle. */
export interface Lifecycle {
  start(): Promise<void>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Persistence of the gateway model (current values survive a restart)
// ---------------------------------------------------------------------------------------------

export type ResourceKind = "SENSOR" | "STATE_VARIABLE" | "PROPERTY" | "ACTION";

/** One resource's persisted state: its place in the model, its type, last value and metadata. */
export interface StoredResource {
  provider: string;
  service: string;
  resource: string;
  kind: ResourceKind;
  valueType: string;
  /** JSON-serialisable value, or null when never set. */
  value: unknown;
  /** Timestamp of the value (ms), or null when never set. */
  timestamp: number | null;
  /** Metadata name → { value, timestamp }. */
  metadata: Record<string, { value: unknown; timestamp: number }>;
}

export interface ValueStore {
  /** Every stored resource, in any order. */
  loadAll(): Promise<StoredResource[]>;
  /** Insert or replace by (provider, service, resource). One transaction for the whole batch. */
  saveBatch(resources: readonly StoredResource[]): Promise<void>;
  /** Forget resources; a missing service/resource removes the whole provider/service. */
  remove(provider: string, service?: string, resource?: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Federation transport (XMPP in production, in-process for the demo and fast tests)
// ---------------------------------------------------------------------------------------------

/** One federation message: one SenML pack (CONTRACTS.md §4). */
export interface FederationStanza {
  /** Stable message id, reused on every resend; also sent as XEP-0359 origin-id. */
  id: string;
  /** Bare JID of the sender (filled in by the transport on receipt). */
  from: string;
  /** Bare JID of the recipient. */
  to: string;
  /** The SenML JSON pack. */
  body: string;
  /** `relais/@user`: the federated user on whose behalf the data is sent. */
  user?: string;
  /** `relais/@consumer`: the sender's consumer id. */
  consumer?: string;
}

export type OutgoingStanza = Omit<FederationStanza, "from">;

/**
 * What the receiving side decided. The transport answers "accepted" with the XEP-0184 receipt,
 * "rejected" with an error stanza; when the handler throws, it answers nothing (the sender resends).
 */
export type InboundVerdict =
  | { kind: "accepted" }
  | { kind: "rejected"; code: ErrorCode; message: string; condition?: StanzaErrorCondition };

export type StanzaErrorCondition =
  | "bad-request"
  | "forbidden"
  | "not-authorized"
  | "not-acceptable"
  | "policy-violation"
  | "item-not-found"
  | "internal-server-error"
  | "service-unavailable";

export type TransportState = "offline" | "connecting" | "online";

export interface TransportEvents {
  /** A message arrived. The receipt/error is sent after the promise settles. */
  message: (stanza: FederationStanza) => Promise<InboundVerdict>;
  /** The peer confirmed (XEP-0184) a message we sent. */
  receipt: (id: string, from: string) => void;
  /** The peer (or the server) answered a message we sent with an error. */
  bounce: (id: string, from: string, condition: string, text: string) => void;
  state: (state: TransportState) => void;
}

export interface Transport extends Lifecycle {
  /** Our own bare JID. */
  readonly jid: string;
  readonly state: TransportState;
  /**
   * Hand one stanza to the network. Resolves once written to the stream (not delivered);
   * rejects with a retryable RelaisError when offline. Delivery is confirmed by a `receipt` event.
   */
  send(stanza: OutgoingStanza): Promise<void>;
  /**
   * Resolves once the server has handled every stanza sent before (it handles a stream's stanzas
   * in order: a XEP-0199 ping answered on the same stream). Rejects with a retryable RelaisError
   * when offline or when the stream ends first; `details.streamError` then holds the condition of
   * the server's stream error, if it sent one (e.g. policy-violation for a stanza it finds too big).
   */
  confirm(): Promise<void>;
  /** Condition of the stream error that ended the previous connection; null if it ended otherwise. */
  readonly lastStreamError: string | null;
  /** Register the single handler of an event kind (replaces the previous one). */
  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): void;
}

// ---------------------------------------------------------------------------------------------
// Persistence of the security model (local accounts, API tokens, the policy tree)
// ---------------------------------------------------------------------------------------------

/** sensiNact access levels, weakest first. */
export type AccessLevel = "ANONYMOUS" | "AUTHENTICATED" | "ADMIN" | "OWNER";

/** A local account of this gateway (a principal of the core security model). */
export interface Account {
  name: string;
  level: AccessLevel;
  /** scrypt hash in the form produced by core/security (never the password). */
  passwordHash: string | null;
  createdAt: number;
}

export interface ApiToken {
  /** SHA-256 of the token, hex; the token itself is shown once and never stored. */
  tokenHash: string;
  account: string;
  label: string;
  createdAt: number;
  expiresAt: number | null;
}

export interface SecurityStore {
  listAccounts(): Promise<Account[]>;
  getAccount(name: string): Promise<Account | null>;
  /** Insert or replace by name. */
  putAccount(account: Account): Promise<void>;
  /** Also removes the account's tokens. */
  deleteAccount(name: string): Promise<boolean>;
  findToken(tokenHash: string): Promise<ApiToken | null>;
  listTokens(account?: string): Promise<ApiToken[]>;
  putToken(token: ApiToken): Promise<void>;
  deleteToken(tokenHash: string): Promise<boolean>;
  /** The whole policy tree as one JSON document (its shape belongs to core/security); null if never saved. */
  loadPolicy(): Promise<unknown>;
  savePolicy(policy: unknown): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Timers (injected so that simulators and write-behind flushing are testable with manual ticks)
// ---------------------------------------------------------------------------------------------

export interface Scheduler {
  /** Runs `task` every `intervalMs` until the returned cancel function is called. */
  every(intervalMs: number, task: () => void): () => void;
}

/** The production scheduler (real timers, unref'd so they never keep the process alive). */
export const timerScheduler: Scheduler = {
  every(intervalMs, task) {
    const handle = setInterval(task, intervalMs);
    handle.unref();
    return () => {
      clearInterval(handle);
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Cryptography (core must not import node:crypto; see src/adapters/crypto/node-crypto.ts)
// ---------------------------------------------------------------------------------------------

export interface PasswordHasher {
  /** A self-describing hash string (algorithm, parameters, salt, digest). */
  hashPassword(password: string): Promise<string>;
  /** Constant-time comparison against a hash produced by hashPassword. */
  verifyPassword(password: string, hash: string): Promise<boolean>;
}

export interface Crypto extends PasswordHasher {
  /** A new random API token (URL-safe, ≥ 256 bits). */
  randomToken(): string;
  /** SHA-256 of a string, lowercase hex (how tokens are stored). */
  sha256Hex(text: string): string;
  /** A random identifier (subscriptions, tasks). */
  randomId(): string;
}

// ---------------------------------------------------------------------------------------------
// Connectors (local systems: one Connector per system; the Gateway starts and stops them)
// ---------------------------------------------------------------------------------------------

/** What the Gateway hands to a connector in attach(): the connector's way into the model. */
export interface ConnectorContext {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Creates or re-declares a provider with its services and resources, owned by this connector. */
  declare(provider: ProviderDeclaration): void;
  /**
   * Pushes value updates (one or a batch) for resources this connector declared. Updates older than
   * the stored value are ignored. Throws RelaisError (MODEL_NOT_FOUND, ACCESS_TYPE_MISMATCH) and
   * applies nothing of the batch when one update is invalid.
   */
  push(updates: ResourceUpdate | readonly ResourceUpdate[]): void;
  /** Removes a provider, a service or a resource this connector owns. */
  remove(provider: string, service?: string, resource?: string): void;
}

/** A SET routed to the connector that owns the PROPERTY. */
export interface ConnectorSetRequest {
  uri: string;
  provider: string;
  service: string;
  resource: string;
  value: unknown;
}

/** An ACT routed to the connector that owns the ACTION. */
export interface ConnectorActRequest {
  uri: string;
  provider: string;
  service: string;
  resource: string;
  /** Validated against the action's declared parameters. */
  parameters: Record<string, unknown>;
  /**
   * Pushes updates caused by this action; the STATE_VARIABLE ones appear in the ACT response's
   * `triggered` list (as SET_RESPONSE envelopes).
   */
  push(updates: ResourceUpdate | readonly ResourceUpdate[]): void;
}

export interface Connector extends Lifecycle {
  /** Unique among the gateway's connectors (e.g. "simulator"). */
  readonly id: string;
  /** Called once by Gateway.registerConnector, before start(). */
  attach(context: ConnectorContext): void;
  /**
   * Carries out a SET on a PROPERTY it owns. When it resolves, the gateway stores the value with
   * the current time (unless the connector already pushed a newer one). Reject with a RelaisError
   * to refuse. Absent: the gateway stores the value itself.
   */
  set?(request: ConnectorSetRequest): Promise<void>;
  /** Runs an ACTION it owns; the resolved value is the task result. Reject to abort the task. */
  act?(request: ConnectorActRequest): Promise<unknown>;
}
