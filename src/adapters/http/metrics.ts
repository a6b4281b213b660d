/**
 * The Prometheus metrics of the northbound API, registered on the registry the composition root
 * passes in (so /metrics shows them next to those of other parts). Names are `relais_*`.
 * Gauges of other parts' state (Outbox/Inbox depth, XMPP state) are read at scrape time through
 * collect callbacks and are only registered when no other part registered the same name.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface QueueDepth {
  /** Rows per status, e.g. { pending: 3, sent: 10, dead: 1 }. */
  outbox?: Record<string, number>;
  inbox?: Record<string, number>;
}

export interface MetricsSources {
  /** Outbox/Inbox depth by status, read at each scrape. */
  queueDepth?: () => Promise<QueueDepth>;
  /** Current XMPP transport state ("offline" | "connecting" | "online"), when federation runs. */
  xmppState?: () => string;
}

const XMPP_STATES = ["offline", "connecting", "online"];

export class HttpMetrics {
  readonly registry: Registry;
  readonly requests: Counter<"method" | "route" | "status">;
  readonly duration: Histogram<"method" | "route">;
  readonly accessMethods: Counter<"method" | "status">;
  readonly subscriptions: Gauge<"channel">;
  readonly notifications: Counter<"channel">;
  readonly callbackFailures: Counter;
  readonly jobRuns: Counter<"job" | "result">;
  readonly failedLogins: Counter;
  /** Label-bound children, cached: hashing label sets on every request is the costly part. */
  private readonly requestChildren: Map<
    string,
    { count: { inc(): void }; time: { observe(v: number): void } }
  >;
  private readonly accessChildren: Map<string, { inc(): void }>;

  constructor(registry: Registry | undefined, sources: MetricsSources = {}) {
    this.registry = registry ?? new Registry();
    const reg = [this.registry];
    const reuse = <T>(name: string, make: () => T): T =>
      (this.registry.getSingleMetric(name) as T | undefined) ?? make();
    this.requests = reuse(
      "relais_http_requests_total",
      () =>
        new Counter({
          name: "relais_http_requests_total",
          help: "HTTP requests answered, by method, route pattern and status",
          labelNames: ["method", "route", "status"] as const,
          registers: reg,
        }),
    );
    this.duration = reuse(
      "relais_http_request_duration_seconds",
      () =>
        new Histogram({
          name: "relais_http_request_duration_seconds",
          help: "HTTP request duration, by method and route pattern",
          labelNames: ["method", "route"] as const,
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
          registers: reg,
        }),
    );
    this.accessMethods = reuse(
      "relais_http_access_methods_total",
      () =>
        new Counter({
          name: "relais_http_access_methods_total",
          help: "Access methods called through REST and WebSocket, by method and statusCode",
          labelNames: ["method", "status"] as const,
          registers: reg,
        }),
    );
    this.subscriptions = reuse(
      "relais_http_subscriptions",
      () =>
        new Gauge({
          name: "relais_http_subscriptions",
          help: "Open subscriptions by delivery channel (ws, sse, callback)",
          labelNames: ["channel"] as const,
          registers: reg,
        }),
    );
    this.notifications = reuse(
      "relais_http_notifications_total",
      () =>
        new Counter({
          name: "relais_http_notifications_total",
          help: "Notifications handed to subscribers, by channel",
          labelNames: ["channel"] as const,
          registers: reg,
        }),
    );
    this.callbackFailures = reuse(
      "relais_http_callback_failures_total",
      () =>
        new Counter({
          name: "relais_http_callback_failures_total",
          help: "Failed callback delivery attempts",
          registers: reg,
        }),
    );
    this.jobRuns = reuse(
      "relais_http_job_runs_total",
      () =>
        new Counter({
          name: "relais_http_job_runs_total",
          help: "Jobs run through the admin API, by job and result (ok, error)",
          labelNames: ["job", "result"] as const,
          registers: reg,
        }),
    );
    this.failedLogins = reuse(
      "relais_http_failed_logins_total",
      () =>
        new Counter({
          name: "relais_http_failed_logins_total",
          help: "Rejected credentials on the northbound API",
          registers: reg,
        }),
    );
    for (const channel of ["ws", "sse", "callback"]) this.subscriptions.set({ channel }, 0);
    this.requestChildren = new Map();
    this.accessChildren = new Map();

    const { queueDepth, xmppState } = sources;
    if (queueDepth && !this.registry.getSingleMetric("relais_queue_messages")) {
      new Gauge({
        name: "relais_queue_messages",
        help: "Outbox and Inbox rows by status (read at scrape time)",
        labelNames: ["queue", "status"] as const,
        registers: reg,
        async collect() {
          this.reset();
          try {
            const depth = await queueDepth();
            for (const queue of ["outbox", "inbox"] as const)
              for (const [status, n] of Object.entries(depth[queue] ?? {})) this.set({ queue, status }, n);
          } catch {
            // The database is down: /health/ready says so; the gauge stays empty for this scrape.
          }
        },
      });
    }
    if (xmppState && !this.registry.getSingleMetric("relais_xmpp_state")) {
      new Gauge({
        name: "relais_xmpp_state",
        help: "XMPP transport state: 1 for the current state, 0 for the others",
        labelNames: ["state"] as const,
        registers: reg,
        collect() {
          const s = xmppState();
          for (const state of XMPP_STATES) this.set({ state }, state === s ? 1 : 0);
        },
      });
    }
  }

  /** One answered request (route = the route pattern, not the URL, to bound the label set). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let c = this.requestChildren.get(key);
    if (c === undefined) {
      c = {
        count: this.requests.labels({ method, route, status: String(status) }),
        time: this.duration.labels({ method, route }),
      };
      this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.time.observe(seconds);
  }

  /** One access method answered with `status` (the envelope's statusCode). */
  observeAccess(method: string, status: number): void {
    const key = `${method} ${status}`;
    let c = this.accessChildren.get(key);
    if (c === undefined) {
      c = this.accessMethods.labels({ method, status: String(status) });
      this.accessChildren.set(key, c);
    }
    c.inc();
  }
}
