/**
 * The Gateway facade: the one entry point the HTTP API, the CLI, the connectors and the federation
 * call. It owns the model, the subscriptions, the policy and the connectors, and persists current
 * values write-behind.
 *
 * Conventions
 * - Every call that acts for someone takes a `Principal` first (see security/principal.ts); get one
 *   from authenticate()/authenticateHeader()/principalOf(), or use ANONYMOUS.
 * - sensiNact access methods (describe*, get, set, act, subscribe, unsubscribe) never throw: they
 *   return the spec's envelope, with `error` and the catalogue status on failure.
 * - Admin use cases (accounts, tokens, policy) and applyUpdates throw RelaisError.
 * - Visibility: what the caller may not DESCRIBE is reported as RELAIS_ERR_MODEL_NOT_FOUND (404),
 *   never 403. A visible resource whose method the kind does not support → ACCESS_NOT_ALLOWED (405);
 *   a method the policy refuses → SECURITY_UNAUTHENTICATED (401, anonymous caller) or
 *   SECURITY_FORBIDDEN (403, authenticated caller).
 *
 * Wiring (main.ts / the demo):
 *
 *   const gateway = new Gateway({
 *     clock: systemClock, crypto: new NodeCrypto(), valueStore, securityStore,
 *     scheduler: timerScheduler, logger, bootstrapAdminToken: config.adminToken,
 *   });
 *   await gateway.registerConnector(new SimulatorConnector({ devices: defaultFleet(2), scheduler: timerScheduler }));
 *   await gateway.start();
 *   const caller = await gateway.authenticateHeader(req.headers.authorization);
 *   const envelope = gateway.get(caller, "/meter-1/power/active");   // reply with envelope.statusCode
 *   // "partner-beta may create and SET under providers ext-*":
 *   await gateway.setPolicy(admin, withGrant(gateway.getPolicy(admin), ["ext-*"], "partner-beta", ["SET", "CREATE"]));
 *   gateway.applyUpdates(await gateway.principalOf("partner-beta"), updates);
 *   await gateway.stop();   // stops connectors, flushes values
 */
import { RelaisError } from "./errors.js";
import {
  silentLogger,
  timerScheduler,
  type Account,
  type AccessLevel,
  type ApiToken,
  type Clock,
  type Connector,
  type ConnectorContext,
  type Crypto,
  type Logger,
  type ResourceKind,
  type Scheduler,
  type SecurityStore,
  type ValueStore,
} from "./ports.js";
import { ResourceModel, ADMIN_SERVICE, type ResourceNode } from "./model/model.js";
import { assertName, formatPath, parsePath, parseResourcePath, type ResourcePath } from "./model/names.js";
import type { ModelEvent, ProviderDeclaration, ResourceUpdate } from "./model/types.js";
import { inferType, isValueType, matchesType, type ValueType } from "./model/value-types.js";
import { parseConditions } from "./access/conditions.js";
import {
  fail,
  ok,
  type ActEnvelope,
  type AttributeResponse,
  type GetEnvelope,
  type ProviderEnvelope,
  type ProvidersEnvelope,
  type ProviderSummary,
  type ResourceDescription,
  type ResourceEnvelope,
  type ResourcesEnvelope,
  type ServiceDescription,
  type ServiceEnvelope,
  type ServicesEnvelope,
  type SetEnvelope,
  type SetOkEnvelope,
  type SubscribeEnvelope,
  type UnsubscribeEnvelope,
} from "./access/envelopes.js";
import {
  DEFAULT_SUBSCRIPTION_LIMITS,
  SubscriptionRegistry,
  type EventKind,
  type SubscriptionListener,
} from "./access/subscriptions.js";
import { PathAccess, Policy, parsePolicy, type Method, type PolicyDocument } from "./security/policy.js";
import { ANONYMOUS, isAccessLevel, levelAtLeast, principal, type Principal } from "./security/principal.js";

export interface GatewayOptions {
  clock: Clock;
  crypto: Crypto;
  valueStore: ValueStore;
  securityStore: SecurityStore;
  /** Timers for write-behind flushing; default real timers. Tests pass a ManualScheduler. */
  scheduler?: Scheduler;
  logger?: Logger;
  /** How often dirty values are written to the ValueStore (ms). Default 1000. */
  flushIntervalMs?: number;
  /** A flush starts early when this many resources are dirty. Default 5000. */
  flushBatchSize?: number;
  subscriptionLimits?: { perCaller?: number; total?: number };
  /** The operator's RELAIS_ADMIN_TOKEN: a Bearer token that authenticates as an OWNER. */
  bootstrapAdminToken?: string;
  /** Account name of the bootstrap principal. Default "relais-admin". */
  bootstrapAdminAccount?: string;
}

export type Credentials =
  | { kind: "anonymous" }
  | { kind: "basic"; user: string; password: string }
  | { kind: "bearer"; token: string };

export interface SubscribeOptions {
  listener: SubscriptionListener;
  /** Untrusted conditions `[{operator, operand}]`, validated here. */
  conditions?: unknown;
  /** Event kinds to receive; default ["DATA"]. */
  events?: readonly EventKind[];
}

/** Outcome of applyUpdates. */
export interface ApplyResult {
  applied: number;
  /** Updates older than the stored value (ignored, not an error). */
  stale: number;
  /** Providers/services/resources created by this call (data-first creation). */
  created: string[];
  rejected: { index: number; uri: string; code: RelaisError["code"]; message: string }[];
}

export interface AccountInfo {
  name: string;
  level: AccessLevel;
  hasPassword: boolean;
  createdAt: number;
}

export interface TokenInfo {
  /** The token's SHA-256: its id for listing and revoking. */
  id: string;
  account: string;
  label: string;
  createdAt: number;
  expiresAt: number | null;
}

export interface ConnectorStatus {
  id: string;
  running: boolean;
  error: string | null;
}

type ParamsInput = Record<string, unknown> | readonly { name: string; value: unknown }[];

/** Which access methods each kind of resource supports (sensiNact). */
const APPLICABLE: Record<ResourceKind, readonly Method[]> = {
  SENSOR: ["GET", "SUBSCRIBE", "UNSUBSCRIBE"],
  STATE_VARIABLE: ["GET", "SUBSCRIBE", "UNSUBSCRIBE"],
  PROPERTY: ["GET", "SET", "SUBSCRIBE", "UNSUBSCRIBE"],
  ACTION: ["ACT"],
};

const CAN: Record<ResourceKind, Partial<Record<Method, true>>> = {
  SENSOR: { GET: true, SUBSCRIBE: true, UNSUBSCRIBE: true },
  STATE_VARIABLE: { GET: true, SUBSCRIBE: true, UNSUBSCRIBE: true },
  PROPERTY: { GET: true, SET: true, SUBSCRIBE: true, UNSUBSCRIBE: true },
  ACTION: { ACT: true },
};

/** GET/SET response members that metadata cannot override. */
const RESERVED = new Set(["timestamp", "name", "type", "value"]);

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

interface ConnectorEntry {
  connector: Connector;
  running: boolean;
  error: string | null;
}

function notFound(uri: string): RelaisError {
  return new RelaisError("RELAIS_ERR_MODEL_NOT_FOUND", `Not found: ${uri}`, { uri });
}

export class Gateway {
  readonly model: ResourceModel;
  private readonly clock: Clock;
  private readonly crypto: Crypto;
  private decoy: Promise<string> | null = null;
  private readonly valueStore: ValueStore;
  private readonly securityStore: SecurityStore;
  private readonly scheduler: Scheduler;
  private readonly logger: Logger;
  private readonly flushIntervalMs: number;
  private readonly flushBatchSize: number;
  private readonly subscriptions: SubscriptionRegistry;
  private readonly connectors = new Map<string, ConnectorEntry>();
  private readonly eventListeners = new Set<(e: ModelEvent) => void>();
  private readonly bootstrapTokenHash: string | null;
  private readonly bootstrapAccount: string;
  private policy = new Policy();

  private started = false;
  private starting: Promise<void> | null = null;
  private restoring = false;
  private cancelFlushTimer: (() => void) | null = null;
  private readonly dirty = new Map<string, ResourceNode>();
  private readonly removals: [string, string | undefined, string | undefined][] = [];
  private flushing: Promise<void> | null = null;

  constructor(options: GatewayOptions) {
    this.clock = options.clock;
    this.crypto = options.crypto;
    this.valueStore = options.valueStore;
    this.securityStore = options.securityStore;
    this.scheduler = options.scheduler ?? timerScheduler;
    this.logger = (options.logger ?? silentLogger).child({ component: "gateway" });
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.flushBatchSize = options.flushBatchSize ?? 5000;
    this.bootstrapTokenHash =
      options.bootstrapAdminToken !== undefined && options.bootstrapAdminToken !== ""
        ? this.crypto.sha256Hex(options.bootstrapAdminToken)
        : null;
    this.bootstrapAccount = options.bootstrapAdminAccount ?? "relais-admin";
    this.model = new ResourceModel(this.clock, (e) => {
      this.onModelEvent(e);
    });
    this.subscriptions = new SubscriptionRegistry(
      { ...DEFAULT_SUBSCRIPTION_LIMITS, ...options.subscriptionLimits },
      (segments) => this.policy.access(segments),
      this.logger,
    );
  }

  // ===========================================================================================
  // Lifecycle
  // ===========================================================================================

  /** Loads the policy and the stored values, starts the flush timer and the connectors. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.starting ??= this.doStart();
    try {
      await this.starting;
    } finally {
      this.starting = null;
    }
  }

  private async doStart(): Promise<void> {
    void this.decoyHash().catch(() => (this.decoy = null)); // ready before the first login
    this.installPolicy(parsePolicy(await this.securityStore.loadPolicy()));
    const stored = await this.valueStore.loadAll();
    this.restoring = true;
    try {
      this.model.restore(stored);
    } finally {
      this.restoring = false;
    }
    this.cancelFlushTimer = this.scheduler.every(this.flushIntervalMs, () => {
      this.flush().catch((e: unknown) => {
        this.logger.warn({ err: e }, "value flush failed; will retry");
      });
    });
    this.started = true;
    for (const entry of this.connectors.values()) await this.startConnector(entry);
    this.logger.info({ resources: this.model.size, connectors: this.connectors.size }, "gateway started");
  }

  /** Stops the connectors (in reverse order), then flushes every pending value. Idempotent. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const entry of [...this.connectors.values()].reverse()) {
      try {
        await entry.connector.stop();
      } catch (e) {
        this.logger.warn({ err: e, connector: entry.connector.id }, "connector stop failed");
      }
      entry.running = false;
    }
    this.cancelFlushTimer?.();
    this.cancelFlushTimer = null;
    await this.flush();
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** Writes every dirty value (and pending removals) to the ValueStore now. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.dirty.size === 0 && this.removals.length === 0) return;
    const nodes = [...this.dirty.values()];
    this.dirty.clear();
    const removals = this.removals.splice(0);
    const run = async (): Promise<void> => {
      try {
        for (const [p, s, r] of removals) await this.valueStore.remove(p, s, r);
        if (nodes.length > 0) await this.valueStore.saveBatch(nodes.map((n) => ResourceModel.toStored(n)));
      } catch (e) {
        // Put everything back so that the next flush retries it (removals first, in order).
        this.removals.unshift(...removals);
        for (const n of nodes) {
          if (this.model.resource(n.provider, n.service, n.name) === n && !this.dirty.has(n.uri)) {
            this.dirty.set(n.uri, n);
          }
        }
        throw e;
      }
    };
    this.flushing = run();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  private onModelEvent(e: ModelEvent): void {
    if (!this.restoring) {
      if (
        e.kind === "DATA" ||
        e.kind === "METADATA" ||
        (e.kind === "LIFECYCLE" && e.action === "RESOURCE_CREATED")
      ) {
        const node =
          e.resource !== undefined && e.service !== undefined
            ? this.model.resource(e.provider, e.service, e.resource)
            : undefined;
        if (node) this.markDirty(node);
      } else if (e.action === "RESOURCE_REMOVED") {
        this.dirty.delete(e.uri);
      }
    }
    this.subscriptions.dispatch(e);
    for (const l of this.eventListeners) {
      try {
        l(e);
      } catch (err) {
        this.logger.warn({ err }, "model event listener threw");
      }
    }
  }

  private markDirty(node: ResourceNode): void {
    this.dirty.set(node.uri, node);
    if (this.dirty.size >= this.flushBatchSize && this.flushing === null && this.started) {
      this.flush().catch((e: unknown) => {
        this.logger.warn({ err: e }, "value flush failed; will retry");
      });
    }
  }

  /**
   * Trusted, unfiltered feed of every model event (for in-process parts such as the federation
   * outbox or metrics). Not for end users: use subscribe(), which applies the policy.
   * Returns a function that removes the listener.
   */
  onEvent(listener: (e: ModelEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  // ===========================================================================================
  // Authentication
  // ===========================================================================================

  /** A hash no password is checked against for real (made once, at start). */
  private decoyHash(): Promise<string> {
    this.decoy ??= this.crypto.hashPassword(this.crypto.randomToken());
    return this.decoy;
  }

  async authenticate(credentials: Credentials): Promise<Principal> {
    switch (credentials.kind) {
      case "anonymous":
        return ANONYMOUS;
      case "basic": {
        const account = await this.securityStore.getAccount(credentials.user);
        // An unknown user (or one without a password) costs one hash check too: the answer's
        // timing must not tell which account names exist.
        const hash = account?.passwordHash ?? (await this.decoyHash());
        const ok = await this.crypto.verifyPassword(credentials.password, hash);
        if (!ok || !account || account.passwordHash === null) {
          throw new RelaisError("RELAIS_ERR_SECURITY_BAD_CREDENTIALS");
        }
        return principal(account.name, account.level);
      }
      case "bearer": {
        const hash = this.crypto.sha256Hex(credentials.token);
        if (this.bootstrapTokenHash !== null && hash === this.bootstrapTokenHash) {
          return principal(this.bootstrapAccount, "OWNER");
        }
        const token = await this.securityStore.findToken(hash);
        if (!token || (token.expiresAt !== null && token.expiresAt <= this.clock.now())) {
          throw new RelaisError("RELAIS_ERR_SECURITY_BAD_CREDENTIALS");
        }
        const account = await this.securityStore.getAccount(token.account);
        if (!account) throw new RelaisError("RELAIS_ERR_SECURITY_BAD_CREDENTIALS");
        return principal(account.name, account.level);
      }
    }
  }

  /**
   * Authenticates an HTTP `Authorization` header value: absent → anonymous; `Basic base64(user:pw)`;
   * `Bearer <token>`. Anything else → SECURITY_BAD_CREDENTIALS.
   */
  async authenticateHeader(header: string | undefined): Promise<Principal> {
    if (header === undefined || header.trim() === "") return ANONYMOUS;
    const m = /^(\w+)\s+(.+)$/.exec(header.trim());
    const scheme = m?.[1]?.toLowerCase();
    const value = m?.[2];
    if (scheme === "bearer" && value !== undefined)
      return this.authenticate({ kind: "bearer", token: value });
    if (scheme === "basic" && value !== undefined) {
      let decoded: string;
      try {
        decoded = new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
      } catch {
        throw new RelaisError("RELAIS_ERR_SECURITY_BAD_CREDENTIALS");
      }
      const i = decoded.indexOf(":");
      if (i < 0) throw new RelaisError("RELAIS_ERR_SECURITY_BAD_CREDENTIALS");
      return this.authenticate({ kind: "basic", user: decoded.slice(0, i), password: decoded.slice(i + 1) });
    }
    throw new RelaisError("RELAIS_ERR_SECURITY_BAD_CREDENTIALS");
  }

  /**
   * The principal of a local account, without credentials: for trusted in-process callers
   * (the federation applying data on behalf of a mapped user, the CLI run by the operator).
   */
  async principalOf(accountName: string): Promise<Principal> {
    const account = await this.securityStore.getAccount(accountName);
    if (!account)
      throw new RelaisError("RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND", undefined, { account: accountName });
    return principal(account.name, account.level);
  }

  // ===========================================================================================
  // Visibility and authorisation helpers
  // ===========================================================================================

  /** DESCRIBE allowed on the node and every ancestor. */
  private visible(caller: Principal, segments: readonly string[]): boolean {
    return this.policy.access(segments).visible(caller);
  }

  /** The policy decisions for a resource, cached on the node until the policy changes. */
  private accessOf(node: ResourceNode): PathAccess {
    const c = node.accessCache;
    if (c !== null && c.policy === this.policy) return c.access as PathAccess;
    const access = this.policy.access([node.provider, node.service, node.name]);
    node.accessCache = { policy: this.policy, access };
    return access;
  }

  /**
   * The resource at `uri`, checked for `method` in the order callers observe: not visible → 404,
   * method not applicable to the kind → 405, method refused by the policy → 401/403.
   */
  private resolve(caller: Principal, uri: string, method: Method): ResourceNode {
    // The canonical "/p/s/r" is found without parsing; anything else is parsed (and validated).
    let node = this.model.resourceAt(uri);
    if (!node) {
      const p = parseResourcePath(uri);
      node = this.model.resource(p.provider, p.service, p.resource);
      if (!node) throw notFound(uri);
    }
    const a = this.accessOf(node);
    // Fast path: the common case of an allowed call.
    if (CAN[node.kind][method] && a.allows(caller, method) && a.visible(caller)) return node;
    if (!this.resourceVisible(caller, node)) throw notFound(uri);
    Gateway.applicable(node, method);
    this.authorize(caller, method, a);
    return node;
  }

  private authorize(caller: Principal, method: Method, target: readonly string[] | PathAccess): void {
    const access = target instanceof PathAccess ? target : this.policy.access(target);
    if (access.allows(caller, method)) return;
    throw caller.account === null
      ? new RelaisError("RELAIS_ERR_SECURITY_UNAUTHENTICATED", undefined, { method })
      : new RelaisError("RELAIS_ERR_SECURITY_FORBIDDEN", undefined, { method });
  }

  /**
   * The resource at `uri` if the caller may see it: DESCRIBE allowed on it and its parents, and at
   * least one access method of its kind allowed ("a user sees only what they may use").
   * `method`: the method about to be used (checked first: the common, fast case).
   */
  private visibleResource(caller: Principal, uri: string, method?: Method): ResourceNode {
    const p = parseResourcePath(uri);
    const node = this.model.resource(p.provider, p.service, p.resource);
    if (!node || !this.resourceVisible(caller, node, method)) throw notFound(uri);
    return node;
  }

  private resourceVisible(caller: Principal, node: ResourceNode, method?: Method): boolean {
    const a = this.accessOf(node);
    if (!a.visible(caller)) return false;
    if (method !== undefined && a.allows(caller, method)) return true;
    return APPLICABLE[node.kind].some((m) => a.allows(caller, m));
  }

  private static applicable(node: ResourceNode, method: Method): void {
    if (!APPLICABLE[node.kind].includes(method)) {
      throw new RelaisError("RELAIS_ERR_ACCESS_NOT_ALLOWED", `${method} does not apply to a ${node.kind}`, {
        method,
        kind: node.kind,
      });
    }
  }

  /** The access methods `caller` may use on `node` (kind and policy). */
  accessMethods(caller: Principal, node: ResourceNode): Method[] {
    const a = this.accessOf(node);
    return APPLICABLE[node.kind].filter((m) => a.allows(caller, m));
  }

  /** The GET/SET response body of a resource: `{timestamp, name, type, value, ...metadata}`. */
  static attribute(node: ResourceNode): AttributeResponse {
    const r: AttributeResponse = {
      timestamp: node.timestamp,
      name: node.name,
      type: node.valueType,
      value: node.value,
    };
    for (const [k, m] of node.metadata) if (!RESERVED.has(k)) r[k] = m.value;
    return r;
  }

  // ===========================================================================================
  // DESCRIBE
  // ===========================================================================================

  private summary(caller: Principal, name: string): ProviderSummary {
    const admin = (r: string): unknown => {
      const node = this.model.resource(name, ADMIN_SERVICE, r);
      return node &&
        this.visible(caller, [name, ADMIN_SERVICE, r]) &&
        this.policy.allows(caller, "GET", [name, ADMIN_SERVICE, r])
        ? node.value
        : null;
    };
    const friendlyName = admin("friendlyName");
    return {
      name,
      friendlyName: typeof friendlyName === "string" ? friendlyName : null,
      location: admin("location"),
    };
  }

  /** The providers the caller may see (PROVIDERS_LIST, uri "/"). */
  describeProviders(caller: Principal): ProvidersEnvelope {
    try {
      const list = this.model
        .providerNames()
        .filter((p) => this.visible(caller, [p]))
        .map((p) => this.summary(caller, p));
      return ok("PROVIDERS_LIST", "/", list);
    } catch (e) {
      return fail("PROVIDERS_LIST", "/", e);
    }
  }

  describeProvider(caller: Principal, provider: string): ProviderEnvelope {
    const uri = `/${provider}`;
    try {
      const services = this.visibleServices(caller, provider, uri);
      const description = this.summary(caller, provider);
      const d = this.model.resource(provider, ADMIN_SERVICE, "description");
      const descr =
        d &&
        this.visible(caller, [provider, ADMIN_SERVICE, "description"]) &&
        this.policy.allows(caller, "GET", [provider, ADMIN_SERVICE, "description"])
          ? d.value
          : null;
      return ok("DESCRIBE_PROVIDER", uri, {
        ...description,
        description: typeof descr === "string" ? descr : null,
        services: services.map((s) => s.name),
      });
    } catch (e) {
      return fail("DESCRIBE_PROVIDER", uri, e);
    }
  }

  private visibleServices(caller: Principal, provider: string, uri: string): ServiceDescription[] {
    assertName(provider);
    const p = this.model.provider(provider);
    if (!p || !this.visible(caller, [provider])) throw notFound(uri);
    const out: ServiceDescription[] = [];
    for (const s of p.services.values()) {
      if (!this.visible(caller, [provider, s.name])) continue;
      out.push({
        name: s.name,
        provider,
        resources: [...s.resources.values()]
          .filter((r) => this.resourceVisible(caller, r))
          .map((r) => r.name),
      });
    }
    return out;
  }

  describeServices(caller: Principal, provider: string): ServicesEnvelope {
    const uri = `/${provider}`;
    try {
      return ok("SERVICES_LIST", uri, this.visibleServices(caller, provider, uri));
    } catch (e) {
      return fail("SERVICES_LIST", uri, e);
    }
  }

  describeService(caller: Principal, provider: string, service: string): ServiceEnvelope {
    const uri = `/${provider}/${service}`;
    try {
      const s = this.visibleServices(caller, provider, uri).find((x) => x.name === service);
      if (!s) throw notFound(uri);
      return ok("DESCRIBE_SERVICE", uri, s);
    } catch (e) {
      return fail("DESCRIBE_SERVICE", uri, e);
    }
  }

  private describeNode(caller: Principal, node: ResourceNode): ResourceDescription {
    const metadata: ResourceDescription["metadata"] = {};
    for (const [k, m] of node.metadata) metadata[k] = { value: m.value, timestamp: m.timestamp };
    const d: ResourceDescription = {
      name: node.name,
      uri: node.uri,
      type: node.kind,
      valueType: node.valueType,
      metadata,
      accessMethods: this.accessMethods(caller, node),
    };
    if (node.kind === "ACTION") d.parameters = node.parameters.map((p) => ({ ...p }));
    return d;
  }

  describeResources(caller: Principal, provider: string, service: string): ResourcesEnvelope {
    const uri = `/${provider}/${service}`;
    try {
      const s = this.visibleServices(caller, provider, uri).find((x) => x.name === service);
      if (!s) throw notFound(uri);
      const list = s.resources.map((r) =>
        this.describeNode(caller, this.model.resource(provider, service, r)!),
      );
      return ok("RESOURCES_LIST", uri, list);
    } catch (e) {
      return fail("RESOURCES_LIST", uri, e);
    }
  }

  describeResource(caller: Principal, provider: string, service: string, resource: string): ResourceEnvelope {
    const uri = `/${provider}/${service}/${resource}`;
    try {
      return ok("DESCRIBE_RESOURCE", uri, this.describeNode(caller, this.visibleResource(caller, uri)));
    } catch (e) {
      return fail("DESCRIBE_RESOURCE", uri, e);
    }
  }

  // ===========================================================================================
  // GET / SET / ACT
  // ===========================================================================================

  /** GET "/p/s/r" → GET_RESPONSE `{timestamp, name, type, value, ...metadata}`. */
  get(caller: Principal, uri: string): GetEnvelope {
    try {
      const node = this.resolve(caller, uri, "GET");
      return ok("GET_RESPONSE", node.uri, Gateway.attribute(node));
    } catch (e) {
      return fail("GET_RESPONSE", uri, e);
    }
  }

  /**
   * SET a PROPERTY. A connector-owned property is first handed to its connector (Connector.set),
   * then stored with the current time.
   */
  async set(caller: Principal, uri: string, value: unknown): Promise<SetEnvelope> {
    try {
      const node = this.resolve(caller, uri, "SET");
      if (!matchesType(node.valueType, value)) {
        throw new RelaisError("RELAIS_ERR_ACCESS_TYPE_MISMATCH", undefined, {
          expected: node.valueType,
          uri: node.uri,
        });
      }
      if (node.owner !== null) {
        const entry = this.runningConnector(node.owner, node.uri);
        if (entry.connector.set) {
          await this.callConnector(() =>
            entry.connector.set!({
              uri: node.uri,
              provider: node.provider,
              service: node.service,
              resource: node.name,
              value,
            }),
          );
        }
      }
      if (this.model.resource(node.provider, node.service, node.name) !== node) throw notFound(uri);
      this.model.update(node, value, this.clock.now());
      return ok("SET_RESPONSE", node.uri, Gateway.attribute(node));
    } catch (e) {
      return fail("SET_RESPONSE", uri, e);
    }
  }

  private runningConnector(id: string, uri: string): ConnectorEntry {
    const entry = this.connectors.get(id);
    if (!entry || !entry.running) {
      throw new RelaisError("RELAIS_ERR_ACCESS_UNAVAILABLE", undefined, { connector: id, uri });
    }
    return entry;
  }

  private async callConnector<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof RelaisError) throw e;
      throw new RelaisError(
        "RELAIS_ERR_ACCESS_ACTION_FAILED",
        undefined,
        { cause: e instanceof Error ? e.message : String(e) },
        { cause: e },
      );
    }
  }

  private static parameters(node: ResourceNode, input: ParamsInput | undefined): Record<string, unknown> {
    const given: Record<string, unknown> = {};
    if (Array.isArray(input)) {
      for (const p of input as readonly { name: string; value: unknown }[]) given[p.name] = p.value;
    } else if (input !== undefined) {
      Object.assign(given, input);
    }
    const declared = new Map(node.parameters.map((p) => [p.name, p]));
    const unknownNames = Object.keys(given).filter((k) => !declared.has(k));
    if (unknownNames.length > 0) {
      throw new RelaisError(
        "RELAIS_ERR_ACCESS_BAD_PARAMETERS",
        `Unknown parameters: ${unknownNames.join(", ")}`,
        {
          unknown: unknownNames,
        },
      );
    }
    const missing = node.parameters
      .filter((p) => p.optional !== true && given[p.name] === undefined)
      .map((p) => p.name);
    if (missing.length > 0) {
      throw new RelaisError("RELAIS_ERR_ACCESS_BAD_PARAMETERS", `Missing parameters: ${missing.join(", ")}`, {
        missing,
      });
    }
    for (const [k, v] of Object.entries(given)) {
      const spec = declared.get(k)!;
      if (v !== undefined && !matchesType(spec.type, v)) {
        throw new RelaisError("RELAIS_ERR_ACCESS_BAD_PARAMETERS", `Parameter ${k} must be a ${spec.type}`, {
          parameter: k,
          expected: spec.type,
        });
      }
    }
    return given;
  }

  /**
   * ACT on an ACTION: runs a task INITIALIZED → LAUNCHED → ACKNOWLEDGED → EXECUTED | ABORTED on the
   * owning connector. `parameters` is `{name: value}` or the REST form `[{name, value}]`.
   * On success: ACT_RESPONSE `{taskId, result, status: "EXECUTED", start, end}` plus `triggered`
   * (SET_RESPONSE envelopes of the state variables the action changed). On abort: the error
   * envelope, with details `{taskId, status: "ABORTED", start, end}`.
   */
  async act(caller: Principal, uri: string, parameters?: ParamsInput): Promise<ActEnvelope> {
    let task: { taskId: string; status: string; start: number } | null = null;
    try {
      const node = this.resolve(caller, uri, "ACT");
      const params = Gateway.parameters(node, parameters);
      task = { taskId: this.crypto.randomId(), status: "INITIALIZED", start: this.clock.now() };
      if (node.owner === null)
        throw new RelaisError("RELAIS_ERR_ACCESS_UNAVAILABLE", undefined, { uri: node.uri });
      const entry = this.runningConnector(node.owner, node.uri);
      const connector = entry.connector;
      if (!connector.act)
        throw new RelaisError("RELAIS_ERR_ACCESS_UNAVAILABLE", undefined, { uri: node.uri });
      const triggered: SetOkEnvelope[] = [];
      const ctx = this.contextFor(connector.id);
      task.status = "LAUNCHED";
      const running = this.callConnector(() =>
        connector.act!({
          uri: node.uri,
          provider: node.provider,
          service: node.service,
          resource: node.name,
          parameters: params,
          push: (updates) => {
            for (const n of ctx.pushNodes(updates)) {
              if (n.kind === "STATE_VARIABLE")
                triggered.push(ok("SET_RESPONSE", n.uri, Gateway.attribute(n)));
            }
          },
        }),
      );
      task.status = "ACKNOWLEDGED";
      const result = await running;
      const end = this.clock.now();
      return {
        response: { taskId: task.taskId, result: result ?? null, status: "EXECUTED", start: task.start, end },
        triggered,
        statusCode: 200,
        type: "ACT_RESPONSE",
        uri: node.uri,
      };
    } catch (e) {
      const env = fail("ACT_RESPONSE", uri, e);
      if (task)
        env.error.details = {
          ...env.error.details,
          taskId: task.taskId,
          status: "ABORTED",
          start: task.start,
          end: this.clock.now(),
        };
      return env;
    }
  }

  // ===========================================================================================
  // SUBSCRIBE / UNSUBSCRIBE
  // ===========================================================================================

  /**
   * SUBSCRIBE to a resource ("/p/s/r") or a branch ("/p/s", "/p", "/"). Notifications are delivered
   * synchronously to `options.listener` as `{type: "SUBSCRIPTION_NOTIFICATION", subscriptionId, uri,
   * timestamp, value}`, filtered by the conditions and by what the caller may see.
   */
  subscribe(caller: Principal, uri: string, options: SubscribeOptions): SubscribeEnvelope {
    try {
      const path = parsePath(uri);
      const segments = [path.provider, path.service, path.resource].filter(
        (x): x is string => x !== undefined,
      );
      const canonical = formatPath(path.provider, path.service, path.resource);
      if (segments.length === 3) {
        this.resolve(caller, canonical, "SUBSCRIBE");
      } else if (segments.length > 0) {
        const exists =
          segments.length === 1
            ? this.model.provider(segments[0]!)
            : this.model.service(segments[0]!, segments[1]!);
        if (!exists || !this.visible(caller, segments)) throw notFound(canonical);
      }
      this.authorize(caller, "SUBSCRIBE", segments);
      const conditions = parseConditions(options.conditions);
      const events = new Set<EventKind>(options.events ?? ["DATA"]);
      for (const k of events) {
        if (k !== "DATA" && k !== "METADATA" && k !== "LIFECYCLE") {
          throw new RelaisError("RELAIS_ERR_ACCESS_BAD_CONDITION", `Unknown event kind ${String(k)}`, {
            event: k,
          });
        }
      }
      const id = this.crypto.randomId();
      this.subscriptions.add({
        id,
        principal: caller,
        uri: canonical,
        events,
        conditions,
        listener: options.listener,
        createdAt: this.clock.now(),
      });
      return ok("SUBSCRIBE_RESPONSE", canonical, { subscriptionId: id });
    } catch (e) {
      return fail("SUBSCRIBE_RESPONSE", uri, e);
    }
  }

  /** UNSUBSCRIBE: only the account that subscribed (or an ADMIN) may cancel a subscription. */
  unsubscribe(caller: Principal, uri: string, subscriptionId: string): UnsubscribeEnvelope {
    const start = this.clock.now();
    try {
      const sub = this.subscriptions.get(subscriptionId);
      if (!sub || (sub.principal.account !== caller.account && !levelAtLeast(caller.level, "ADMIN"))) {
        throw new RelaisError("RELAIS_ERR_ACCESS_SUBSCRIPTION_NOT_FOUND", undefined, { subscriptionId });
      }
      const p = parsePath(sub.uri);
      this.authorize(
        caller,
        "UNSUBSCRIBE",
        [p.provider, p.service, p.resource].filter((x): x is string => x !== undefined),
      );
      this.subscriptions.remove(subscriptionId);
      return ok("UNSUBSCRIBE_RESPONSE", uri, {
        taskId: this.crypto.randomId(),
        status: "EXECUTED",
        start,
        end: this.clock.now(),
      });
    } catch (e) {
      return fail("UNSUBSCRIBE_RESPONSE", uri, e);
    }
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  // ===========================================================================================
  // Data-first updates on behalf of a principal (federation, SenML ingestion)
  // ===========================================================================================

  /**
   * Applies value updates on behalf of `caller`. An existing resource needs the SET right (any kind
   * but ACTION); an unknown one needs the CREATE right at its path and is created (provider, service,
   * resource; kind `update.kind` or SENSOR, value type `update.valueType` or inferred from the value).
   * With `atomic` (default) nothing is applied when any update is rejected.
   */
  applyUpdates(
    caller: Principal,
    updates: readonly ResourceUpdate[],
    options: { atomic?: boolean } = {},
  ): ApplyResult {
    const atomic = options.atomic ?? true;
    const result: ApplyResult = { applied: 0, stale: 0, created: [], rejected: [] };
    const planned = new Map<string, ValueType>();
    const valid: ResourceUpdate[] = [];
    updates.forEach((u, index) => {
      const uri = `/${u.provider}/${u.service}/${u.resource}`;
      try {
        assertName(u.provider, "provider name");
        assertName(u.service, "service name");
        assertName(u.resource, "resource name");
        const segs = [u.provider, u.service, u.resource];
        const node = this.model.resource(u.provider, u.service, u.resource);
        let type: ValueType;
        if (node) {
          if (!this.policy.allows(caller, "SET", segs)) {
            throw this.visible(caller, segs)
              ? new RelaisError(
                  caller.account === null
                    ? "RELAIS_ERR_SECURITY_UNAUTHENTICATED"
                    : "RELAIS_ERR_SECURITY_FORBIDDEN",
                  undefined,
                  { method: "SET" },
                )
              : notFound(uri);
          }
          if (node.kind === "ACTION") Gateway.applicable(node, "SET");
          type = node.valueType;
        } else {
          this.authorize(caller, "CREATE", segs);
          const plannedType = planned.get(uri);
          if (u.valueType !== undefined && !isValueType(u.valueType)) {
            throw new RelaisError(
              "RELAIS_ERR_ACCESS_TYPE_MISMATCH",
              `Unknown value type ${String(u.valueType)}`,
              { uri },
            );
          }
          type = plannedType ?? u.valueType ?? inferType(u.value);
          if (u.kind === "ACTION") {
            throw new RelaisError("RELAIS_ERR_ACCESS_NOT_ALLOWED", "Actions cannot be created from data", {
              uri,
            });
          }
          planned.set(uri, type);
        }
        if (!matchesType(type, u.value)) {
          throw new RelaisError("RELAIS_ERR_ACCESS_TYPE_MISMATCH", undefined, { expected: type, uri });
        }
        valid.push(u);
      } catch (e) {
        const err =
          e instanceof RelaisError
            ? e
            : new RelaisError("RELAIS_ERR_INTERNAL_BUG", undefined, {}, { cause: e });
        result.rejected.push({ index, uri, code: err.code, message: err.message });
      }
    });
    if (atomic && result.rejected.length > 0) return result;
    const now = this.clock.now();
    for (const u of valid) {
      let node = this.model.resource(u.provider, u.service, u.resource);
      if (!node) {
        node = this.model.ensureResource(u.provider, u.service, {
          name: u.resource,
          kind: u.kind ?? "SENSOR",
          valueType: planned.get(`/${u.provider}/${u.service}/${u.resource}`)!,
        });
        result.created.push(node.uri);
      }
      const ts = u.timestamp ?? now;
      if (u.metadata) for (const [k, v] of Object.entries(u.metadata)) this.model.setMetadata(node, k, v, ts);
      if (this.model.update(node, u.value, ts) === "stale") result.stale++;
      else result.applied++;
    }
    return result;
  }

  // ===========================================================================================
  // Connectors
  // ===========================================================================================

  /** Adds a connector; it is started with the gateway (or at once if the gateway runs). */
  async registerConnector(connector: Connector): Promise<void> {
    if (this.connectors.has(connector.id)) throw new Error(`Connector ${connector.id} is already registered`);
    const entry: ConnectorEntry = { connector, running: false, error: null };
    this.connectors.set(connector.id, entry);
    connector.attach(this.contextFor(connector.id));
    if (this.started) await this.startConnector(entry);
  }

  private async startConnector(entry: ConnectorEntry): Promise<void> {
    try {
      await entry.connector.start();
      entry.running = true;
      entry.error = null;
    } catch (e) {
      entry.running = false;
      entry.error = e instanceof Error ? e.message : String(e);
      this.logger.error({ err: e, connector: entry.connector.id }, "connector failed to start");
    }
  }

  connectorStatus(): ConnectorStatus[] {
    return [...this.connectors.values()].map((e) => ({
      id: e.connector.id,
      running: e.running,
      error: e.error,
    }));
  }

  private contextFor(
    id: string,
  ): ConnectorContext & { pushNodes(u: ResourceUpdate | readonly ResourceUpdate[]): ResourceNode[] } {
    const logger = this.logger.child({ connector: id });
    const pushNodes = (input: ResourceUpdate | readonly ResourceUpdate[]): ResourceNode[] => {
      const list: readonly ResourceUpdate[] = Array.isArray(input) ? input : [input as ResourceUpdate];
      const nodes = list.map((u) => {
        const node = this.model.resource(u.provider, u.service, u.resource);
        const uri = `/${u.provider}/${u.service}/${u.resource}`;
        if (!node || node.owner !== id) throw notFound(uri);
        if (!matchesType(node.valueType, u.value)) {
          throw new RelaisError("RELAIS_ERR_ACCESS_TYPE_MISMATCH", undefined, {
            expected: node.valueType,
            uri,
          });
        }
        return node;
      });
      const now = this.clock.now();
      const changed: ResourceNode[] = [];
      list.forEach((u, i) => {
        const node = nodes[i]!;
        const ts = u.timestamp ?? now;
        if (u.metadata)
          for (const [k, v] of Object.entries(u.metadata)) this.model.setMetadata(node, k, v, ts);
        if (this.model.update(node, u.value, ts) === "updated") changed.push(node);
      });
      return changed;
    };
    return {
      clock: this.clock,
      logger,
      declare: (decl: ProviderDeclaration) => {
        const existing = this.model.provider(decl.name);
        if (existing && existing.owner !== null && existing.owner !== id) {
          throw new RelaisError(
            "RELAIS_ERR_MODEL_CONFLICT",
            `Provider ${decl.name} belongs to connector ${existing.owner}`,
            {
              uri: `/${decl.name}`,
            },
          );
        }
        this.model.declare(decl, id);
      },
      push: (updates) => {
        pushNodes(updates);
      },
      remove: (provider, service, resource) => {
        const p = this.model.provider(provider);
        if (!p || p.owner !== id) throw notFound(formatPath(provider, service, resource));
        this.removeNode(provider, service, resource);
      },
      pushNodes,
    };
  }

  private removeNode(provider: string, service?: string, resource?: string): boolean {
    const removed = this.model.remove(provider, service, resource);
    if (removed) this.removals.push([provider, service, resource]);
    return removed;
  }

  /** Removes a provider, service or resource (ADMIN). */
  remove(caller: Principal, uri: string): boolean {
    this.requireLevel(caller, "ADMIN");
    const p = parsePath(uri);
    if (p.provider === undefined) throw new RelaisError("RELAIS_ERR_MODEL_INVALID_PATH", undefined, { uri });
    const removed = this.removeNode(p.provider, p.service, p.resource);
    if (!removed) throw notFound(uri);
    return removed;
  }

  // ===========================================================================================
  // Administration: accounts, tokens, policy (ADMIN; OWNER to create or promote OWNERs)
  // ===========================================================================================

  private requireLevel(caller: Principal, level: AccessLevel): void {
    if (levelAtLeast(caller.level, level)) return;
    throw caller.account === null
      ? new RelaisError("RELAIS_ERR_SECURITY_UNAUTHENTICATED")
      : new RelaisError("RELAIS_ERR_SECURITY_FORBIDDEN", undefined, { required: level });
  }

  private static info(a: Account): AccountInfo {
    return { name: a.name, level: a.level, hasPassword: a.passwordHash !== null, createdAt: a.createdAt };
  }

  private async checkPassword(password: string | undefined): Promise<string | null> {
    if (password === undefined) return null;
    if (password.length < 8) throw new RelaisError("RELAIS_ERR_SECURITY_WEAK_PASSWORD");
    return this.crypto.hashPassword(password);
  }

  async listAccounts(caller: Principal): Promise<AccountInfo[]> {
    this.requireLevel(caller, "ADMIN");
    return (await this.securityStore.listAccounts()).map((a) => Gateway.info(a));
  }

  async createAccount(
    caller: Principal,
    input: { name: string; level: AccessLevel; password?: string },
  ): Promise<AccountInfo> {
    this.requireLevel(caller, input.level === "OWNER" ? "OWNER" : "ADMIN");
    if (!ACCOUNT_NAME.test(input.name)) {
      throw new RelaisError("RELAIS_ERR_MODEL_INVALID_NAME", "Invalid account name", { name: input.name });
    }
    if (!isAccessLevel(input.level) || input.level === "ANONYMOUS") {
      throw new RelaisError(
        "RELAIS_ERR_SECURITY_BAD_POLICY",
        "An account's level is AUTHENTICATED, ADMIN or OWNER",
        {
          path: "level",
        },
      );
    }
    if (await this.securityStore.getAccount(input.name)) {
      throw new RelaisError("RELAIS_ERR_SECURITY_ACCOUNT_EXISTS", undefined, { account: input.name });
    }
    const account: Account = {
      name: input.name,
      level: input.level,
      passwordHash: await this.checkPassword(input.password),
      createdAt: this.clock.now(),
    };
    await this.securityStore.putAccount(account);
    return Gateway.info(account);
  }

  /** Changes an account's level and/or password. Anyone may change their own password. */
  async updateAccount(
    caller: Principal,
    name: string,
    changes: { level?: AccessLevel; password?: string },
  ): Promise<AccountInfo> {
    const self = caller.account === name && changes.level === undefined;
    if (!self) this.requireLevel(caller, changes.level === "OWNER" ? "OWNER" : "ADMIN");
    const account = await this.securityStore.getAccount(name);
    if (!account)
      throw new RelaisError("RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND", undefined, { account: name });
    if (account.level === "OWNER" && !self) this.requireLevel(caller, "OWNER");
    if (changes.level !== undefined) {
      if (!isAccessLevel(changes.level) || changes.level === "ANONYMOUS") {
        throw new RelaisError(
          "RELAIS_ERR_SECURITY_BAD_POLICY",
          "An account's level is AUTHENTICATED, ADMIN or OWNER",
          {
            path: "level",
          },
        );
      }
      account.level = changes.level;
    }
    if (changes.password !== undefined) account.passwordHash = await this.checkPassword(changes.password);
    await this.securityStore.putAccount(account);
    return Gateway.info(account);
  }

  async deleteAccount(caller: Principal, name: string): Promise<void> {
    this.requireLevel(caller, "ADMIN");
    const account = await this.securityStore.getAccount(name);
    if (!account)
      throw new RelaisError("RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND", undefined, { account: name });
    if (account.level === "OWNER") this.requireLevel(caller, "OWNER");
    await this.securityStore.deleteAccount(name);
  }

  /**
   * Creates an API token for `account` (yourself, or anyone as ADMIN). The token is returned once;
   * only its SHA-256 is stored.
   */
  async createToken(
    caller: Principal,
    input: { account: string; label: string; ttlMs?: number },
  ): Promise<{ token: string; info: TokenInfo }> {
    if (caller.account !== input.account) this.requireLevel(caller, "ADMIN");
    else this.requireLevel(caller, "AUTHENTICATED");
    const account = await this.securityStore.getAccount(input.account);
    if (!account)
      throw new RelaisError("RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND", undefined, { account: input.account });
    if (account.level === "OWNER") this.requireLevel(caller, "OWNER");
    const token = this.crypto.randomToken();
    const now = this.clock.now();
    const stored: ApiToken = {
      tokenHash: this.crypto.sha256Hex(token),
      account: input.account,
      label: input.label,
      createdAt: now,
      expiresAt: input.ttlMs !== undefined ? now + input.ttlMs : null,
    };
    await this.securityStore.putToken(stored);
    return { token, info: Gateway.tokenInfo(stored) };
  }

  private static tokenInfo(t: ApiToken): TokenInfo {
    return {
      id: t.tokenHash,
      account: t.account,
      label: t.label,
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
    };
  }

  /** Tokens of `account` (yourself, or anyone / all as ADMIN). */
  async listTokens(caller: Principal, account?: string): Promise<TokenInfo[]> {
    if (account === undefined || caller.account !== account) this.requireLevel(caller, "ADMIN");
    return (await this.securityStore.listTokens(account)).map((t) => Gateway.tokenInfo(t));
  }

  async revokeToken(caller: Principal, tokenId: string): Promise<boolean> {
    const t = await this.securityStore.findToken(tokenId);
    if (!t) return false;
    if (t.account !== caller.account) this.requireLevel(caller, "ADMIN");
    return this.securityStore.deleteToken(tokenId);
  }

  /** The policy document in force (ADMIN). */
  getPolicy(caller: Principal): PolicyDocument {
    this.requireLevel(caller, "ADMIN");
    return structuredClone(this.policy.document);
  }

  /** Validates, persists and applies a new policy document (ADMIN). */
  async setPolicy(caller: Principal, document: unknown): Promise<PolicyDocument> {
    this.requireLevel(caller, "ADMIN");
    const doc = parsePolicy(document);
    await this.securityStore.savePolicy(doc);
    this.installPolicy(doc);
    return structuredClone(doc);
  }

  private installPolicy(doc: PolicyDocument): void {
    this.policy = new Policy(doc);
  }

  /** May `caller` use `method` at `uri` ("/", "/p", "/p/s", "/p/s/r")? (No existence check.) */
  allows(caller: Principal, method: Method, uri: string): boolean {
    const p = parsePath(uri);
    const segs = [p.provider, p.service, p.resource].filter((x): x is string => x !== undefined);
    return this.policy.allows(caller, method, segs) && (method === "DESCRIBE" || this.visible(caller, segs));
  }

  /** Counts for health and metrics. */
  stats(): {
    providers: number;
    resources: number;
    subscriptions: number;
    dirty: number;
    connectors: ConnectorStatus[];
  } {
    return {
      providers: this.model.providerNames().length,
      resources: this.model.size,
      subscriptions: this.subscriptions.size,
      dirty: this.dirty.size,
      connectors: this.connectorStatus(),
    };
  }
}

export type { ResourcePath };
