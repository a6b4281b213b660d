/**
 * The northbound HTTP API: one fastify instance, one plugin per route group (STYLE.md).
 *
 *   /sensinact/…   sensiNact-compatible REST, WebSocket and SSE (CONTRACTS.md §3)
 *   /api/v1/…      admin API (ADMIN)
 *   /health/…      liveness and readiness
 *   /metrics       Prometheus (ADMIN unless `publicMetrics`)
 *   /docs          OpenAPI (generated from the route schemas) and swagger-ui
 *   /              the console (web/) or a small page linking /docs
 *
 * The composition root calls buildHttpApp(deps) and then start()/stop(); nothing here builds a
 * concrete adapter of another part.
 */
import fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestHookHandler,
} from "fastify";
import type { Registry } from "prom-client";
import { pino } from "pino";
import { RelaisError } from "../../core/errors.js";
import { systemClock, type Clock, type Logger, type TransportState } from "../../core/ports.js";
import { REDACT_PATHS } from "../../log.js";
import { atLeast, createAuthenticator } from "./auth.js";
import { CallbackDispatcher, type CallbackOptions } from "./callbacks.js";
import { errorMember, toRelaisError } from "./http-errors.js";
import { LoginLimiter, type LoginLimitOptions } from "./login-limiter.js";
import { HttpMetrics, type QueueDepth } from "./metrics.js";
import type { HealthProbe, HttpCaller, JobRunner, NorthboundGateway } from "./ports.js";
import { adminRoutes, type AdminStores, type ConfigHooks } from "./routes/admin.js";
import { consoleRoutes } from "./routes/console.js";
import { docsRoutes } from "./routes/docs.js";
import { healthRoutes } from "./routes/health.js";
import { ingestRoutes, type SenmlIngest } from "./routes/ingest.js";
import { metricsRoutes } from "./routes/metrics.js";
import { securityRoutes } from "./routes/security.js";
import { sensinactRoutes } from "./routes/sensinact.js";
import { wsRoutes } from "./routes/ws.js";
import { SseStreams } from "./sse.js";

/**
 * Who may call a route: anyone without looking at credentials; any caller, anonymous included (the
 * core policy decides); an authenticated caller; an ADMIN.
 */
export type RouteAuth = "public" | "caller" | "user" | "admin";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /** sensiNact envelope type of the route's answers: errors then keep the envelope. */
    envelope?: string;
  }
  interface FastifyRequest {
    caller: HttpCaller;
    /** The matched route's pattern and auth mode; null for unknown URLs. */
    route: RouteInfo | null;
  }
}

export interface RouteInfo {
  readonly url: string;
  readonly auth: RouteAuth;
}

export const BODY_LIMIT = 1024 * 1024;

export interface HttpDeps {
  /** The core, seen through the API's port (see ./core-adapter.ts). */
  gateway: NorthboundGateway;
  /** The federation stores behind /api/v1; routes of absent stores answer 503. */
  admin?: AdminStores;
  /** Runs the named job now (POST /api/v1/jobs/{name}/run). */
  jobs?: JobRunner;
  /** Validation and immediate application of `config` entries written through /api/v1/config. */
  configHooks?: ConfigHooks;
  /**
   * False while the gateway is starting (R6: the listener is up before the database): every route
   * but /health, /metrics and /docs then answers 503 RELAIS_ERR_HTTP_STARTING. Default: always true.
   */
  accepting?: () => boolean;
  /** Components of /health/ready (database, xmpp when configured, connectors). */
  probes?: readonly HealthProbe[];
  /** A probe that has not answered after this long counts as down (default 2 s). */
  probeTimeoutMs?: number;
  /** prom-client registry shown at /metrics; a private one when absent. */
  metricsRegistry?: Registry;
  /** Outbox/Inbox depth by status for /metrics (read at scrape time). */
  queueDepth?: () => Promise<QueueDepth>;
  /** XMPP transport state for /metrics. */
  xmppState?: () => TransportState;
  /** Federation counters for /metrics (relais_federation_events_total). */
  federationCounters?: () => Readonly<Record<string, number>>;
  /** POST /api/v1/ingest/senml, when the SenML connector is available. */
  senmlIngest?: SenmlIngest;
  /** A pino logger (or the core Logger); otherwise one is made with `logLevel`. */
  logger?: Logger | FastifyBaseLogger;
  logLevel?: string;
  /** Where the logger made here writes (default stdout); for tests that read the log. */
  logDestination?: { write(line: string): void };
  /** RELAIS_ADMIN_TOKEN: a bearer token that stands for an ADMIN caller. */
  adminToken?: string | null;
  /** Failed logins per client IP (default 10 per minute). */
  loginLimit?: LoginLimitOptions;
  /** HTTP callbacks: allow-lists, retries (see CallbackOptions). */
  callbacks?: CallbackOptions;
  /** WebSocket: frame size (default 1 MiB, bigger → close 1009) and subscriptions per connection. */
  ws?: { maxPayload?: number; maxSubscriptionsPerConnection?: number };
  /** Open SSE streams on the whole gateway (default 1000). */
  maxSseStreams?: number;
  /** /metrics without credentials (Prometheus scrapers on a private network). Default false. */
  publicMetrics?: boolean;
  /** Directory served at / when it holds an index.html (the console); null: never. */
  webRoot?: string | null;
  /** Trust X-Forwarded-For (behind a reverse proxy) for the client IP of the login limiter. */
  trustProxy?: boolean | string | string[];
  clock?: Clock;
}

export interface HttpApp {
  readonly app: FastifyInstance;
  readonly metrics: HttpMetrics;
  /** Listen (defaults 127.0.0.1:8080); resolves with the bound address. */
  start(options?: { host?: string; port?: number }): Promise<{ url: string; port: number }>;
  /**
   * Stop accepting, end SSE/WebSocket streams and callbacks, let in-flight requests finish; sockets
   * still open after `drainMs` (default 5 s) are destroyed.
   */
  stop(options?: { drainMs?: number }): Promise<void>;
}

function isFastifyLogger(l: unknown): l is FastifyBaseLogger {
  const o = l as Record<string, unknown>;
  return ["fatal", "error", "warn", "info", "debug", "trace", "silent", "child"].every(
    (k) => typeof o[k] === "function",
  );
}

/** The core Logger subset → what fastify needs (fatal → error, trace → debug). */
function toFastifyLogger(l: Logger, level = "info"): FastifyBaseLogger {
  const wrap = (x: Logger): FastifyBaseLogger => {
    const call =
      (f: (obj: object, msg?: string) => void) =>
      (a: unknown, b?: unknown): void => {
        if (typeof a === "string") f({}, a);
        else f(a ?? {}, typeof b === "string" ? b : undefined);
      };
    return {
      level,
      fatal: call((o, m) => {
        x.error(o, m);
      }),
      error: call((o, m) => {
        x.error(o, m);
      }),
      warn: call((o, m) => {
        x.warn(o, m);
      }),
      info: call((o, m) => {
        x.info(o, m);
      }),
      debug: call((o, m) => {
        x.debug(o, m);
      }),
      trace: call((o, m) => {
        x.debug(o, m);
      }),
      silent: () => undefined,
      child: (bindings: Record<string, unknown>) => wrap(x.child(bindings)),
    };
  };
  return wrap(l);
}

function makeLogger(deps: HttpDeps): FastifyBaseLogger {
  if (deps.logger !== undefined)
    return isFastifyLogger(deps.logger) ? deps.logger : toFastifyLogger(deps.logger, deps.logLevel);
  const options = {
    name: "relais-http",
    level: deps.logLevel ?? "info",
    redact: {
      paths: [...REDACT_PATHS, "req.headers.authorization", "req.headers['sec-websocket-protocol']"],
      censor: "***",
    },
  };
  return deps.logDestination ? pino(options, deps.logDestination) : pino(options);
}

type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

/**
 * fastify gives every request a child logger bound to its request id; with redaction on, making
 * one costs about a microsecond, for a logger most requests never write to. This one makes the
 * real child on the first line written at an enabled level.
 */
class LazyChildLogger {
  private real: FastifyBaseLogger | undefined;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: object,
  ) {}
  get level(): string {
    return this.real?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.logger().level = level;
  }
  child(bindings: Record<string, unknown>, options?: object): FastifyBaseLogger {
    return this.logger().child(bindings, options);
  }
  silent(): void {
    // nothing: the silent level writes nothing
  }
  private logger(): FastifyBaseLogger {
    this.real ??= this.parent.child(this.bindings, this.options);
    return this.real;
  }
  private write(level: Level, args: unknown[]): void {
    const enabled = (this.real ?? this.parent) as { isLevelEnabled?: (l: string) => boolean };
    if (enabled.isLevelEnabled?.(level) === false) return;
    const logger = this.logger();
    Reflect.apply(logger[level], logger, args);
  }
  fatal(...args: unknown[]): void {
    this.write("fatal", args);
  }
  error(...args: unknown[]): void {
    this.write("error", args);
  }
  warn(...args: unknown[]): void {
    this.write("warn", args);
  }
  info(...args: unknown[]): void {
    this.write("info", args);
  }
  debug(...args: unknown[]): void {
    this.write("debug", args);
  }
  trace(...args: unknown[]): void {
    this.write("trace", args);
  }
}

/** The caller may use a route of this mode (`public` and `caller` routes admit anyone). */
function admit(req: FastifyRequest, mode: RouteAuth, caller: HttpCaller): void {
  req.caller = caller;
  if (mode === "admin" || mode === "user") {
    if (caller.name === null) throw new RelaisError("RELAIS_ERR_HTTP_UNAUTHENTICATED");
    if (mode === "admin" && !atLeast(caller, "ADMIN")) throw new RelaisError("RELAIS_ERR_HTTP_FORBIDDEN");
  }
}

/**
 * One access-log line per request, when it completes (method, url, status, time), instead of
 * fastify's two; health and metrics probes at debug level so that they do not drown the log.
 */
class AccessLog extends LogController {
  override incomingRequest(): void {
    // the completion line says it all
  }

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = {
      req: { method: req.method, url: req.url, remoteAddress: req.ip },
      res: { statusCode: reply.statusCode },
      responseTime: reply.elapsedTime,
    };
    if (error) req.log.error({ ...line, err: error }, "request errored");
    else if (req.url.startsWith("/health") || req.url.startsWith("/metrics"))
      req.log.debug(line, "request completed");
    else req.log.info(line, "request completed");
  }
}

/** Build the app, register every plugin, and wait until it is ready (routes known, docs built). */
export async function buildHttpApp(deps: HttpDeps): Promise<HttpApp> {
  const clock = deps.clock ?? systemClock;
  const loggerInstance = makeLogger(deps);
  const app = fastify({
    loggerInstance,
    childLoggerFactory: (logger, bindings, options) =>
      new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    logController: new AccessLog(),
    trustProxy: deps.trustProxy ?? false,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { maxParamLength: 512 },
  });

  const metrics = new HttpMetrics(deps.metricsRegistry, {
    ...(deps.queueDepth ? { queueDepth: deps.queueDepth } : {}),
    ...(deps.xmppState ? { xmppState: deps.xmppState } : {}),
    ...(deps.federationCounters ? { federationCounters: deps.federationCounters } : {}),
  });
  const log = app.log as unknown as Logger;
  const limiter = new LoginLimiter(deps.loginLimit ?? {}, clock);
  const auth = createAuthenticator(deps.gateway, limiter, deps.adminToken ?? null, () => {
    metrics.failedLogins.inc();
  });
  const callbacks = new CallbackDispatcher(deps.callbacks ?? {}, log.child({ part: "callbacks" }), {
    delivered: () => {
      metrics.notifications.inc({ channel: "callback" });
    },
    failed: () => {
      metrics.callbackFailures.inc();
    },
    gaveUp: (id) => {
      deps.gateway.dropSubscription(id);
      metrics.subscriptions.dec({ channel: "callback" });
    },
  });
  const sse = new SseStreams(deps.maxSseStreams ?? 1000);

  app.decorateRequest("caller", null as unknown as HttpCaller);
  app.decorateRequest("route", null);

  // Authentication and coarse authorization, before any body is read. Fine-grained rights are
  // the core policy's business (it answers 404 for what the caller may not DESCRIBE).
  // Each route gets its own hook, made once here, knowing the route's auth mode and pattern (read
  // per request through req.routeOptions, they cost a frozen copy of the route's options each
  // time). A callback hook rather than an async one: most callers (anonymous, the admin token)
  // are known at once. Unknown URLs run no hook: the not-found answer needs no caller.
  const authenticate = (req: FastifyRequest, mode: RouteAuth, done: (err?: Error) => void): void => {
    if (mode === "public") {
      req.caller = deps.gateway.anonymous();
      done();
      return;
    }
    const caller = auth.resolve(req);
    if (!(caller instanceof Promise)) {
      admit(req, mode, caller);
      done();
      return;
    }
    caller
      .then((c) => {
        admit(req, mode, c);
      })
      .then(
        () => {
          done();
        },
        (err: unknown) => {
          done(err as Error);
        },
      );
  };
  app.addHook("onRoute", (route) => {
    const url = route.url;
    const info: RouteInfo = {
      url,
      auth: url === "/docs" || url.startsWith("/docs/") ? "public" : (route.config?.auth ?? "caller"),
    };
    const accepting = deps.accepting;
    const alwaysOpen =
      url.startsWith("/health/") || url === "/metrics" || url === "/docs" || url.startsWith("/docs/");
    const hook: onRequestHookHandler =
      accepting === undefined || alwaysOpen
        ? (req, _reply, done) => {
            req.route = info;
            authenticate(req, info.auth, done);
          }
        : (req, _reply, done) => {
            req.route = info;
            if (!accepting()) {
              done(new RelaisError("RELAIS_ERR_HTTP_STARTING", undefined, { retryAfterSeconds: 1 }));
              return;
            }
            authenticate(req, info.auth, done);
          };
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [hook, ...own];
  });

  let closing = false;
  app.addHook("onResponse", (req, reply, done) => {
    metrics.observeRequest(
      req.method,
      req.route?.url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    // An answer on an upgrade request that was not upgraded (refused, or a route without a
    // WebSocket handler): the socket left the HTTP server's hands, so nothing else would close it.
    // While shutting down, a finished answer also ends its keep-alive connection so the drain
    // does not wait for idle clients.
    if (req.headers.upgrade !== undefined || closing) req.raw.socket.end();
    done();
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toRelaisError(err);
    if (e.status >= 500) req.log.error({ err, code: e.code }, "request failed");
    else req.log.debug({ code: e.code }, "request rejected");
    const retryAfter = e.details["retryAfterSeconds"];
    if (typeof retryAfter === "number") void reply.header("retry-after", String(retryAfter));
    if (e.code === "RELAIS_ERR_HTTP_UNAUTHENTICATED")
      void reply.header("www-authenticate", 'Bearer realm="relais"');
    // A refused WebSocket upgrade: the socket is ended once this answer is written (onResponse).
    if (req.headers.upgrade !== undefined) void reply.header("connection", "close");
    const type = req.routeOptions.config.envelope;
    const body =
      type !== undefined
        ? { error: errorMember(e), statusCode: e.status, type, uri: resourceUri(req.params) }
        : { error: errorMember(e), statusCode: e.status };
    return reply.status(e.status).send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new RelaisError("RELAIS_ERR_HTTP_NOT_FOUND", undefined, { method: req.method });
    return reply.status(404).send({ error: errorMember(e), statusCode: 404 });
  });

  await app.register(docsRoutes);
  await app.register(healthRoutes, {
    probes: deps.probes ?? [],
    ...(deps.probeTimeoutMs !== undefined ? { timeoutMs: deps.probeTimeoutMs } : {}),
  });
  await app.register(metricsRoutes, { metrics, public: deps.publicMetrics ?? false });
  await app.register(sensinactRoutes, {
    prefix: "/sensinact",
    gateway: deps.gateway,
    metrics,
    callbacks,
    sse,
  });
  await app.register(wsRoutes, {
    prefix: "/sensinact",
    gateway: deps.gateway,
    metrics,
    maxPayload: deps.ws?.maxPayload ?? BODY_LIMIT,
    maxSubscriptions: deps.ws?.maxSubscriptionsPerConnection ?? 100,
  });
  await app.register(adminRoutes, {
    prefix: "/api/v1",
    stores: deps.admin ?? {},
    ...(deps.jobs ? { jobs: deps.jobs } : {}),
    ...(deps.configHooks ? { configHooks: deps.configHooks } : {}),
    metrics,
  });
  await app.register(securityRoutes, {
    prefix: "/api/v1",
    security: deps.gateway.security,
    audit: deps.admin?.audit,
  });
  if (deps.senmlIngest) await app.register(ingestRoutes, { prefix: "/api/v1", ingest: deps.senmlIngest });
  await app.register(consoleRoutes, { webRoot: deps.webRoot ?? null });

  app.addHook("preClose", async () => {
    closing = true;
    sse.closeAll();
    for (const id of callbacks.close()) deps.gateway.dropSubscription(id);
  });

  await app.ready();

  // Every socket, including upgraded ones the HTTP server no longer tracks: stop() destroys the
  // ones still open after the drain delay, so a stalled client cannot hold the shutdown.
  const sockets = new Set<import("node:net").Socket>();
  app.server.on("connection", (socket: import("node:net").Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  return {
    app,
    metrics,
    async start(options = {}) {
      const address = await app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 8080 });
      const a = app.server.address();
      const port = typeof a === "object" && a !== null ? a.port : (options.port ?? 8080);
      return { url: address, port };
    },
    async stop(options = {}) {
      const drainMs = options.drainMs ?? 5000;
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, drainMs);
      timer.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** /provider/service/resource from the route parameters present. */
export function resourceUri(params: unknown): string {
  const p = (params ?? {}) as Record<string, unknown>;
  const parts = [p["provider"], p["service"], p["resource"]].filter(
    (x): x is string => typeof x === "string",
  );
  return "/" + parts.join("/");
}
