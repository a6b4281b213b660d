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
  /** Federation counters since start (camelCase name → count), read at each scrape. */
  federationCounters?: () => Readonly<Record<string, number>>;
}

/** camelCase → snake_case, for label values (deadLettered → dead_lettered). */
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const XMPP_STATES = ["offline", "connecting", "online"];

export class HttpMetrics {
  readonly registry: Registry;
  readonly requests: Counter<"method" | "route" | "status">;
  readonly duration: RequestDurations;
  readonly accessMethods: Counter<"method" | "status">;
  readonly subscriptions: Gauge<"channel">;
  readonly notifications: Counter<"channel">;
  readonly callbackFailures: Counter;
  readonly jobRuns: Counter<"job" | "result">;
  readonly failedLogins: Counter;

  constructor(registry: Registry | undefined, sources: MetricsSources = {}) {
    this.registry = registry ?? new Registry();
    const reg = [this.registry];
    const reuse = <T>(name: string, make: () => T): T =>
      (this.registry.getSingleMetric(name) as T | undefined) ?? make();
    // Requests and access methods are counted in plain numbers on the hot path (prom-client
    // hashes the label set on every call: ~2 µs a request) and handed over at scrape time.
    const durations = reuse(
      "relais_http_request_duration_seconds",
      () => new RequestDurations("relais_http_request_duration_seconds", this.registry),
    );
    this.duration = durations;
    this.requests = reuse(
      "relais_http_requests_total",
      () =>
        new Counter({
          name: "relais_http_requests_total",
          help: "HTTP requests answered, by method, route pattern and status",
          labelNames: ["method", "route", "status"] as const,
          registers: reg,
          collect() {
            durations.flushCounts((labels, n) => {
              this.inc(labels, n);
            });
          },
        }),
    );
    const accessCounts = durations.accessCounts;
    this.accessMethods = reuse(
      "relais_http_access_methods_total",
      () =>
        new Counter({
          name: "relais_http_access_methods_total",
          help: "Access methods called through REST and WebSocket, by method and statusCode",
          labelNames: ["method", "status"] as const,
          registers: reg,
          collect() {
            for (const c of accessCounts.values()) {
              if (c.pending === 0) continue;
              this.inc({ method: c.method, status: c.status }, c.pending);
              c.pending = 0;
            }
          },
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

    const { queueDepth, xmppState, federationCounters } = sources;
    if (federationCounters && !this.registry.getSingleMetric("relais_federation_events_total")) {
      new Counter({
        name: "relais_federation_events_total",
        help: "Federation events since start: messages sent, delivered, retried, dead_lettered, received, accepted, rejected, duplicates; records queued, applied, rejected…",
        labelNames: ["event"] as const,
        registers: reg,
        collect() {
          this.reset();
          for (const [name, n] of Object.entries(federationCounters())) this.inc({ event: snake(name) }, n);
        },
      });
    }
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
    this.duration.observe(method, route, status, seconds);
  }

  /** One access method answered with `status` (the envelope's statusCode). */
  observeAccess(method: string, status: number): void {
    const key = `${method} ${status}`;
    const counts = this.duration.accessCounts;
    let c = counts.get(key);
    if (c === undefined) {
      c = { method, status: String(status), pending: 0 };
      counts.set(key, c);
    }
    c.pending++;
  }
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface RequestSeries {
  method: string;
  route: string;
  status: string;
  /** Answers not yet handed to the requests counter. */
  pending: number;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  buckets: number[];
}

/**
 * `relais_http_request_duration_seconds`, a histogram by method and route, kept as plain numbers
 * per (method, route, status) and shown through prom-client's registry (which asks a metric for
 * `get()`). It also holds the per-status counts that `relais_http_requests_total` takes at scrape,
 * and the access-method counts.
 */
export class RequestDurations {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly help = "HTTP request duration, by method and route pattern";
  private readonly series = new Map<string, RequestSeries>();
  /**
   * Access methods answered since the last scrape, by `method status`, for
   * `relais_http_access_methods_total` (kept here so that every HttpMetrics of a registry shares it).
   */
  readonly accessCounts = new Map<string, { method: string; status: string; pending: number }>();

  constructor(
    readonly name: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Histogram);
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = {
        method,
        route,
        status: String(status),
        pending: 0,
        count: 0,
        sum: 0,
        buckets: BUCKETS.map(() => 0),
      };
      s.buckets.push(0);
      this.series.set(key, s);
    }
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    s.buckets[i]!++;
    s.count++;
    s.sum += seconds;
    s.pending++;
  }

  /** Hands the answers counted since the last call to `add` (the requests counter). */
  flushCounts(add: (labels: { method: string; route: string; status: string }, n: number) => void): void {
    for (const s of this.series.values()) {
      if (s.pending === 0) continue;
      add({ method: s.method, route: s.route, status: s.status }, s.pending);
      s.pending = 0;
    }
  }

  reset(): void {
    this.series.clear();
    this.accessCounts.clear();
  }

  /** What prom-client's registry prints: buckets (cumulative), sum and count per (method, route). */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  }> {
    const byRoute = new Map<
      string,
      { method: string; route: string; buckets: number[]; sum: number; count: number }
    >();
    for (const s of this.series.values()) {
      const key = `${s.method} ${s.route}`;
      let r = byRoute.get(key);
      if (r === undefined) {
        r = { method: s.method, route: s.route, buckets: s.buckets.map(() => 0), sum: 0, count: 0 };
        byRoute.set(key, r);
      }
      for (let i = 0; i < s.buckets.length; i++) r.buckets[i]! += s.buckets[i]!;
      r.sum += s.sum;
      r.count += s.count;
    }
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const r of byRoute.values()) {
      const labels = { method: r.method, route: r.route };
      let cumulative = 0;
      for (let i = 0; i < r.buckets.length; i++) {
        cumulative += r.buckets[i]!;
        values.push({
          labels: { ...labels, le: i < BUCKETS.length ? BUCKETS[i]! : "+Inf" },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels, value: r.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: r.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}
