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
import fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import websocket from "@fastify/websocket";
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
  }
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

/** Build the app, register every plugin, and wait until it is ready (routes known, docs built). */
export async function buildHttpApp(deps: HttpDeps): Promise<HttpApp> {
  const clock = deps.clock ?? systemClock;
  const loggerInstance = makeLogger(deps);
  const app = fastify({
    loggerInstance,
    bodyLimit: BODY_LIMIT,
    trustProxy: deps.trustProxy ?? false,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { maxParamLength: 512 },
  });

  const metrics = new HttpMetrics(deps.metricsRegistry, {
    ...(deps.queueDepth ? { queueDepth: deps.queueDepth } : {}),
    ...(deps.xmppState ? { xmppState: deps.xmppState } : {}),
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

  // Authentication and coarse authorization, before any body is read. Fine-grained rights are
  // the core policy's business (it answers 404 for what the caller may not DESCRIBE).
  app.addHook("onRequest", async (req) => {
    const url = req.routeOptions.url ?? "";
    const mode =
      req.is404 || url === "/docs" || url.startsWith("/docs/")
        ? "public"
        : (req.routeOptions.config.auth ?? "caller");
    if (mode === "public") {
      req.caller = deps.gateway.anonymous();
      return;
    }
    req.caller = await auth.resolve(req);
    if (mode === "admin" || mode === "user") {
      if (req.caller.name === null) throw new RelaisError("RELAIS_ERR_HTTP_UNAUTHENTICATED");
      if (mode === "admin" && !atLeast(req.caller, "ADMIN"))
        throw new RelaisError("RELAIS_ERR_HTTP_FORBIDDEN");
    }
  });

  app.addHook("onResponse", (req, reply, done) => {
    metrics.observeRequest(
      req.method,
      req.routeOptions.url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
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
    // A refused WebSocket upgrade: the socket left the HTTP server's hands, so nothing would
    // close it after this answer; end it once the answer is written.
    if (req.headers.upgrade !== undefined) {
      void reply.header("connection", "close");
      reply.raw.once("finish", () => {
        req.raw.socket.end();
      });
    }
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

  await app.register(websocket, {
    options: { maxPayload: deps.ws?.maxPayload ?? BODY_LIMIT },
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

  // Responses finished while shutting down close their keep-alive connection, so the drain
  // does not wait for idle clients.
  let closing = false;
  app.addHook("onSend", (_req, reply, payload, done) => {
    if (closing) void reply.header("connection", "close");
    done(null, payload);
  });
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
