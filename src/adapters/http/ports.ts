/**
 * What the northbound API needs from the rest of the gateway, in the API's own terms. The
 * composition root adapts the core `Gateway` facade and the federation stores to these ports
 * (see ./core-adapter.ts for the ready-made adapter), so the routes never depend on internals.
 */
import type { EnvelopeType } from "../../core/access/envelopes.js";
import type { AccessLevel } from "../../core/ports.js";

/** An authenticated (or anonymous) caller, as the core identified it. */
export interface HttpCaller {
  /** Account name, or null for the anonymous caller. */
  readonly name: string | null;
  readonly level: AccessLevel;
  /** Whatever the core needs to act on behalf of this caller (its own principal object). */
  readonly handle: unknown;
}

export type Credentials =
  | { readonly kind: "bearer"; readonly token: string }
  | { readonly kind: "basic"; readonly user: string; readonly password: string };

/** The access methods of CONTRACTS.md §3. */
export type AccessMethod = "GET" | "SET" | "ACT" | "SUBSCRIBE" | "UNSUBSCRIBE";

/** The envelope types are the core's (src/core/access/envelopes.ts): one list, so the two cannot drift. */
export type ResponseType = EnvelopeType;

/** The seed's response envelope (seeds/002): `response` on success, `error` instead on failure. */
export interface Envelope {
  response?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> };
  triggered?: unknown[];
  statusCode: number;
  type: string;
  uri: string;
  requestId?: string;
}

/** A resource path: /provider/service/resource. */
export interface ResourcePath {
  readonly provider: string;
  readonly service: string;
  readonly resource: string;
}

/** `{name, type?, value}` as in the `parameters` array of a request body. */
export interface Parameter {
  readonly name: string;
  readonly type?: string;
  readonly value?: unknown;
}

/** One notification, in the shape the WebSocket/SSE/callback channels send it. */
export interface Notification {
  readonly subscriptionId: string;
  /** /provider/service/resource */
  readonly uri: string;
  readonly timestamp: number;
  readonly value: unknown;
}

export type NotificationSink = (n: Notification) => void;

/** What the describe routes ask for; each level narrows the previous one. */
export type DescribeQuery =
  | { readonly kind: "providers" }
  | { readonly kind: "provider"; readonly provider: string }
  | { readonly kind: "services"; readonly provider: string }
  | { readonly kind: "service"; readonly provider: string; readonly service: string }
  | { readonly kind: "resources"; readonly provider: string; readonly service: string }
  | {
      readonly kind: "resource";
      readonly provider: string;
      readonly service: string;
      readonly resource: string;
    };

/**
 * The gateway as the northbound API sees it. Every method may throw a RelaisError; the routes turn
 * its code into the envelope's error and statusCode. A node the caller may not DESCRIBE must be
 * reported as not found (404), never as forbidden.
 */
export interface NorthboundGateway {
  /** Null when the credentials are wrong (the route answers 401 and counts a failed login). */
  authenticate(credentials: Credentials): Promise<HttpCaller | null>;
  anonymous(): HttpCaller;
  /** The caller the bootstrap admin token (RELAIS_ADMIN_TOKEN) stands for; default: level ADMIN. */
  adminCaller?(): HttpCaller;
  describe(caller: HttpCaller, query: DescribeQuery): Promise<Envelope>;
  /**
   * GET / SET / ACT; `parameters` is the request's array (empty for GET). May answer without a
   * promise when nothing is awaited (a GET of the in-memory model): the REST hot path.
   */
  access(
    caller: HttpCaller,
    method: "GET" | "SET" | "ACT",
    path: ResourcePath,
    parameters: readonly Parameter[],
  ): Envelope | Promise<Envelope>;
  /** SUBSCRIBE: `parameters` carries `conditions`; notifications go to `sink` until unsubscribed. */
  subscribe(
    caller: HttpCaller,
    path: ResourcePath,
    parameters: readonly Parameter[],
    sink: NotificationSink,
  ): Promise<Envelope & { subscriptionId?: string }>;
  unsubscribe(caller: HttpCaller, path: ResourcePath, subscriptionId: string): Promise<Envelope>;
  /** Ends a subscription whatever its owner (the channel went away); never throws. */
  dropSubscription(subscriptionId: string): void;
  /** Accounts, tokens and policy administration (the /api/v1 accounts, tokens, policy routes). */
  readonly security?: SecurityAdmin;
}

export interface AccountView {
  name: string;
  level: AccessLevel;
  hasPassword: boolean;
  createdAt: number;
}

export interface TokenView {
  /** The token's SHA-256: its id for listing and revoking. */
  id: string;
  account: string;
  label: string;
  createdAt: number;
  expiresAt: number | null;
}

/** The core's administration use cases; each checks the caller's level itself. */
export interface SecurityAdmin {
  listAccounts(caller: HttpCaller): Promise<AccountView[]>;
  createAccount(
    caller: HttpCaller,
    input: { name: string; level: AccessLevel; password?: string },
  ): Promise<AccountView>;
  updateAccount(
    caller: HttpCaller,
    name: string,
    changes: { level?: AccessLevel; password?: string },
  ): Promise<AccountView>;
  deleteAccount(caller: HttpCaller, name: string): Promise<void>;
  createToken(
    caller: HttpCaller,
    input: { account: string; label: string; ttlMs?: number },
  ): Promise<{ token: string; info: TokenView }>;
  listTokens(caller: HttpCaller, account?: string): Promise<TokenView[]>;
  revokeToken(caller: HttpCaller, tokenId: string): Promise<boolean>;
  getPolicy(caller: HttpCaller): Promise<unknown>;
  setPolicy(caller: HttpCaller, document: unknown): Promise<unknown>;
}

/** `relais job run …` over HTTP. */
export interface JobRunner {
  run(name: string): Promise<unknown>;
  /** Known job names; when given, others are answered 404 without calling run(). */
  readonly names?: readonly string[];
}

export interface ProbeResult {
  readonly up: boolean;
  readonly detail?: string;
}

/** One component of /health/ready (database, xmpp, a connector…). */
export interface HealthProbe {
  readonly name: string;
  check(): Promise<ProbeResult> | ProbeResult;
}
