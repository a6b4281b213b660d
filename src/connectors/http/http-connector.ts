/**
 * HTTP polling connector: fetches a JSON API on a schedule (fixed interval or cron), maps the
 * answer to resource updates (JSON pointer / JSONata, see ../mapping.ts) and writes SET/ACT back
 * through configured HTTP calls.
 *
 * Robustness: every request has a timeout; failed polls are retried with exponential backoff and
 * jitter, then the schedule itself backs off; a tick that fires while the previous poll still runs
 * is skipped and counted (no pile-up); conditional requests (If-None-Match / If-Modified-Since,
 * RFC 9110 §13.1) turn a 304 into "no update"; every URL is checked against the allow-list and
 * its resolved addresses (no link-local / metadata targets, RELIABILITY.md S11); redirects are not
 * followed (a redirect could point anywhere). Nothing here throws out of the polling loop.
 */
import { findCommand, requireCommand, type CommandKey } from "../commands.js";
import { Cron } from "croner";
import { RelaisError, isRelaisError } from "../../core/errors.js";
import { UrlGuard } from "../../net/url-guard.js";
import { mustCompile, type HttpCommandConfig, type HttpConnectorConfig } from "../config.js";
import type { CompiledMapping } from "../mapping.js";
import type {
  Connector,
  ConnectorCommand,
  ConnectorContext,
  ConnectorStatus,
  Credentials,
} from "../ports.js";
import { backoffDelay, sleep, StatusTracker } from "../status-tracker.js";
import { commandVars, renderJson, renderText } from "../template.js";

export const HTTP_COUNTERS = [
  "ticks",
  "polls",
  "pollFailures",
  "requestRetries",
  "skippedTicks",
  "backoffSkips",
  "notModified",
  "updates",
  "rejectedUpdates",
  "mappingErrors",
  "payloadErrors",
  "forbiddenUrls",
  "commands",
  "commandFailures",
] as const;

export type PollOutcome =
  | { status: "updated"; updates: number; rejected: number; mappingErrors: number }
  | { status: "not-modified" }
  | { status: "skipped"; reason: "busy" | "backoff" | "stopped" }
  | { status: "failed"; code: string; message: string };

export interface HttpConnectorOptions {
  /** Credentials given by the caller; they take precedence over options.auth.credentials. */
  credentials?: Credentials;
  /** Injected for tests; defaults to the global fetch (undici). */
  fetch?: typeof fetch;
  random?: () => number;
}

/** Consecutive failed polls after which the connector reports "down" rather than "degraded". */
const DOWN_AFTER = 3;

export class HttpConnector implements Connector {
  readonly kind = "http";
  readonly name: string;
  private readonly mapping: CompiledMapping;
  private readonly tracker: StatusTracker;
  private readonly fetchFn: typeof fetch;
  private readonly random: () => number;
  private readonly urlGuard: UrlGuard;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private cron: Cron | null = null;
  private inflight: Promise<PollOutcome> | null = null;
  private abort = new AbortController();
  private failures = 0;
  private backoffUntil = 0;
  private etag: string | null = null;
  private lastModified: string | null = null;

  constructor(
    private readonly cfg: HttpConnectorConfig,
    private readonly ctx: ConnectorContext,
    private readonly opts: HttpConnectorOptions = {},
  ) {
    this.name = cfg.name;
    this.mapping = mustCompile(cfg.mapping, "/mapping");
    this.tracker = new StatusTracker(cfg.name, "http", ctx.clock, ctx.logger, HTTP_COUNTERS);
    this.fetchFn = opts.fetch ?? fetch;
    this.random = opts.random ?? Math.random;
    // Local systems live in private ranges: only the allow-list and the forbidden addresses apply.
    this.urlGuard = new UrlGuard({
      allowHosts: cfg.options.allowHosts,
      allowNetworks: "any",
      ...(ctx.lookup ? { lookup: ctx.lookup } : {}),
      codes: {
        refused: "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN",
        unresolved: "RELAIS_ERR_CONNECTOR_UNREACHABLE",
      },
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.tracker.setState("starting");
    const s = this.cfg.schedule;
    // Unref'd like the core's scheduler: stop() ends polling; a timer never keeps the process up.
    if ("everyMs" in s)
      this.timer = setInterval(() => {
        this.tick();
      }, s.everyMs).unref();
    else
      this.cron = new Cron(s.cron, { unref: true }, () => {
        this.tick();
      });
    this.tick();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.cron?.stop();
    this.cron = null;
    this.abort.abort();
    await this.inflight;
    this.tracker.setState("stopped");
  }

  status(): ConnectorStatus {
    return this.tracker.status();
  }

  /** Resolves when no poll is running (tests, benchmark, graceful reload). */
  async settled(): Promise<void> {
    while (this.inflight) await this.inflight;
  }

  /** A scheduled tick: skipped (and counted) while a poll runs or while backing off. */
  private tick(): void {
    this.tracker.inc("ticks");
    void this.pollNow();
  }

  /** Runs one poll now unless one is running (also used by tests and the benchmark). */
  pollNow(): Promise<PollOutcome> {
    if (!this.running) return Promise.resolve({ status: "skipped", reason: "stopped" });
    if (this.inflight) {
      this.tracker.inc("skippedTicks");
      return Promise.resolve({ status: "skipped", reason: "busy" });
    }
    if (this.ctx.clock.now() < this.backoffUntil) {
      this.tracker.inc("backoffSkips");
      return Promise.resolve({ status: "skipped", reason: "backoff" });
    }
    const p = this.poll().finally(() => {
      this.inflight = null;
    });
    this.inflight = p;
    return p;
  }

  private async poll(): Promise<PollOutcome> {
    this.tracker.inc("polls");
    const signal = this.abort.signal;
    try {
      const url = await this.guard(this.cfg.options.url);
      const headers = await this.headers(this.cfg.options.headers);
      if (this.cfg.options.conditional) {
        if (this.etag) headers.set("if-none-match", this.etag);
        if (this.lastModified) headers.set("if-modified-since", this.lastModified);
      }
      const init: RequestInit = { method: this.cfg.options.method, headers };
      if (this.cfg.options.body !== undefined) {
        headers.set("content-type", "application/json");
        init.body = JSON.stringify(this.cfg.options.body);
      }
      const res = await this.withRetries(() => this.request(url, init, signal), signal);
      if (res.status === 304) {
        await res.body?.cancel();
        this.tracker.inc("notModified");
        this.succeeded(false);
        return { status: "not-modified" };
      }
      const text = await this.readBody(res, url);
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new RelaisError("RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID", "the answer is not JSON", {
          url: url.origin + url.pathname,
          contentType: res.headers.get("content-type"),
        });
      }
      const mapped = await this.mapping.evaluate(doc);
      const now = this.ctx.clock.now();
      for (const u of mapped.updates) u.timestamp ??= now;
      if (mapped.errors.length > 0) {
        this.tracker.inc("mappingErrors", mapped.errors.length);
        const first = mapped.errors[0]!;
        this.tracker.error(
          new RelaisError(first.code, `${first.target}: ${first.message}`, {
            target: first.target,
            failedEntries: mapped.errors.length,
          }),
        );
      }
      const outcomes = mapped.updates.length > 0 ? await this.ctx.sink.apply(mapped.updates) : [];
      const rejected = outcomes.filter((o) => !o.ok);
      this.tracker.inc("updates", outcomes.length - rejected.length);
      if (rejected.length > 0) {
        this.tracker.inc("rejectedUpdates", rejected.length);
        const r = rejected[0]!;
        if (!r.ok)
          this.ctx.logger.warn({ code: r.code, connector: this.name, rejected: rejected.length }, r.message);
      }
      // A good answer clears the ETag bookkeeping only once it was fully read and mapped.
      if (this.cfg.options.conditional) {
        this.etag = res.headers.get("etag");
        this.lastModified = res.headers.get("last-modified");
      }
      this.succeeded(mapped.errors.length > 0 || rejected.length > 0);
      return {
        status: "updated",
        updates: outcomes.length - rejected.length,
        rejected: rejected.length,
        mappingErrors: mapped.errors.length,
      };
    } catch (e) {
      if (signal.aborted && !this.running) return { status: "skipped", reason: "stopped" };
      return this.failed(e);
    }
  }

  private succeeded(partial: boolean): void {
    this.failures = 0;
    this.backoffUntil = 0;
    this.tracker.success();
    this.tracker.setState(partial ? "degraded" : "up");
  }

  private failed(e: unknown): PollOutcome {
    const err = classify(e);
    this.failures++;
    this.tracker.inc("pollFailures");
    if (err.code === "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN") this.tracker.inc("forbiddenUrls");
    if (err.code === "RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID") this.tracker.inc("payloadErrors");
    this.tracker.error(err, { consecutiveFailures: this.failures });
    // The schedule backs off too, so a dead system is not hammered at every tick.
    this.backoffUntil =
      this.ctx.clock.now() +
      backoffDelay(
        this.failures,
        { baseMs: this.cfg.options.backoffMs, maxMs: this.cfg.options.maxBackoffMs },
        this.random,
      );
    const permanent =
      err.code === "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN" ||
      err.code === "RELAIS_ERR_CONNECTOR_CREDENTIALS_MISSING";
    this.tracker.setState(permanent || this.failures >= DOWN_AFTER ? "down" : "degraded");
    return { status: "failed", code: err.code, message: err.message };
  }

  private async guard(raw: string): Promise<URL> {
    return this.urlGuard.check(raw);
  }

  private async credentials(): Promise<Credentials | null> {
    if (this.opts.credentials) return this.opts.credentials;
    const auth = this.cfg.options.auth;
    if (!auth) return null;
    const found = this.ctx.credentials ? await this.ctx.credentials.resolve(auth.credentials) : null;
    if (!found)
      throw new RelaisError(
        "RELAIS_ERR_CONNECTOR_CREDENTIALS_MISSING",
        `no credentials for ${auth.credentials}`,
        {
          credentials: auth.credentials,
        },
      );
    return found;
  }

  private async headers(extra: Record<string, string>): Promise<Headers> {
    const h = new Headers(extra);
    h.set("accept", "application/json");
    const auth = this.cfg.options.auth;
    const cred = await this.credentials();
    if (cred) {
      const scheme = auth?.scheme ?? (cred.token ? "bearer" : cred.apiKey ? "apiKey" : "basic");
      if (scheme === "basic")
        h.set(
          "authorization",
          `Basic ${Buffer.from(`${cred.username ?? ""}:${cred.password ?? ""}`, "utf8").toString("base64")}`,
        );
      else if (scheme === "bearer") h.set("authorization", `Bearer ${cred.token ?? cred.password ?? ""}`);
      else h.set(auth?.header ?? "x-api-key", cred.apiKey ?? cred.token ?? "");
    }
    return h;
  }

  /** One request with its own timeout; maps network failures to connector codes. */
  private async request(url: URL, init: RequestInit, stop: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.cfg.options.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        ...init,
        redirect: "manual",
        signal: AbortSignal.any([stop, timeout]),
      });
    } catch (e) {
      if (timeout.aborted)
        throw new RelaisError(
          "RELAIS_ERR_CONNECTOR_TIMEOUT",
          `no answer from ${url.host} within ${this.cfg.options.timeoutMs} ms`,
          { host: url.host, timeoutMs: this.cfg.options.timeoutMs },
          { cause: e },
        );
      throw unreachable(url, e);
    }
    if (res.status === 304 || (res.status >= 200 && res.status < 300)) return res;
    await res.body?.cancel();
    const retry = res.status >= 500 || res.status === 429 || res.status === 408;
    throw new RelaisError(
      "RELAIS_ERR_CONNECTOR_UPSTREAM_STATUS",
      res.status >= 300 && res.status < 400
        ? `${url.host} answered ${res.status}: redirects are not followed`
        : `${url.host} answered ${res.status}`,
      { host: url.host, status: res.status, retry },
    );
  }

  private async withRetries(fn: () => Promise<Response>, signal: AbortSignal): Promise<Response> {
    const max = this.cfg.options.retries;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const retry =
          isRelaisError(e) &&
          (e.code === "RELAIS_ERR_CONNECTOR_TIMEOUT" ||
            e.code === "RELAIS_ERR_CONNECTOR_UNREACHABLE" ||
            (e.code === "RELAIS_ERR_CONNECTOR_UPSTREAM_STATUS" && e.details.retry === true));
        if (!retry || attempt >= max || signal.aborted) throw e;
        this.tracker.inc("requestRetries");
        await sleep(
          backoffDelay(
            attempt + 1,
            { baseMs: this.cfg.options.backoffMs, maxMs: this.cfg.options.maxBackoffMs },
            this.random,
          ),
          signal,
        );
      }
    }
  }

  /** Reads the body up to maxBodyBytes (a runaway local system must not exhaust memory). */
  private async readBody(res: Response, url: URL): Promise<string> {
    const max = this.cfg.options.maxBodyBytes;
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    const tooBig = (): RelaisError =>
      new RelaisError("RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID", `the answer exceeds ${max} bytes`, {
        host: url.host,
        maxBodyBytes: max,
      });
    if (Number.isFinite(declared) && declared > max) {
      await res.body?.cancel();
      throw tooBig();
    }
    if (!res.body) return "";
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > max) {
          await reader.cancel();
          throw tooBig();
        }
        chunks.push(value);
      }
    } catch (e) {
      if (isRelaisError(e)) throw e;
      throw classifyBodyError(url, e, this.cfg.options.timeoutMs);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  handles(c: CommandKey): boolean {
    return findCommand(this.cfg.commands, c) !== undefined;
  }

  /** SET/ACT write-back: one HTTP call, not retried (an ACT is not idempotent); the caller sees the code. */
  async execute(command: ConnectorCommand): Promise<unknown> {
    const cmd: HttpCommandConfig = requireCommand(this.name, this.cfg.commands, command);
    if (!this.running)
      throw new RelaisError("RELAIS_ERR_CONNECTOR_NOT_RUNNING", undefined, { connector: this.name });
    this.tracker.inc("commands");
    try {
      const vars = commandVars(command);
      const url = await this.guard(renderText(cmd.url, vars, encodeURIComponent));
      const headers = await this.headers(
        Object.fromEntries(Object.entries(cmd.headers ?? {}).map(([k, v]) => [k, renderText(v, vars)])),
      );
      const init: RequestInit = { method: cmd.method, headers };
      if (cmd.body !== undefined) {
        if (!headers.has("content-type")) headers.set("content-type", "application/json");
        init.body = JSON.stringify(renderJson(cmd.body, vars));
      }
      const res = await this.request(url, init, this.abort.signal);
      const text = res.status === 304 ? "" : await this.readBody(res, url);
      if (text.length === 0) return null;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text;
      }
    } catch (e) {
      this.tracker.inc("commandFailures");
      const err = classify(e);
      this.tracker.error(err, { command: command.method, target: cmd.target });
      throw err;
    }
  }
}

function unreachable(url: URL, e: unknown): RelaisError {
  const cause = (e as { cause?: { code?: string } }).cause;
  return new RelaisError(
    "RELAIS_ERR_CONNECTOR_UNREACHABLE",
    `cannot reach ${url.host}${cause?.code ? ` (${cause.code})` : ""}`,
    { host: url.host, ...(cause?.code ? { errno: cause.code } : {}) },
    { cause: e },
  );
}

function classifyBodyError(url: URL, e: unknown, timeoutMs: number): RelaisError {
  const name = (e as { name?: string }).name;
  if (name === "TimeoutError" || name === "AbortError")
    return new RelaisError(
      "RELAIS_ERR_CONNECTOR_TIMEOUT",
      `the answer from ${url.host} did not finish in time`,
      {
        host: url.host,
        timeoutMs,
      },
    );
  return unreachable(url, e);
}

function classify(e: unknown): RelaisError {
  if (isRelaisError(e)) return e;
  return new RelaisError(
    "RELAIS_ERR_INTERNAL_BUG",
    e instanceof Error ? e.message : String(e),
    {},
    { cause: e },
  );
}
