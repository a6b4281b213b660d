/**
 * HTTP callbacks for SUBSCRIBE (CONTRACTS.md §3): each notification is POSTed as JSON to the
 * subscriber's URL, in order, retried with exponential backoff. A notification that still fails
 * after `maxAttempts` is dropped (logged, counted); after `maxConsecutiveFailures` dropped
 * notifications in a row the subscription is ended, so a dead endpoint cannot pile up work.
 * Every connection goes through the UrlGuard (resolve, check all addresses, connect to a checked one).
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { RelaisError } from "../../core/errors.js";
import type { Logger } from "../../core/ports.js";
import type { Notification, NotificationSink } from "./ports.js";
import { UrlGuard, type LookupFn } from "../../net/url-guard.js";

export interface CallbackOptions {
  /** Host names allowed as callback targets; empty or absent: any host with public addresses. */
  allowHosts?: readonly string[];
  /** CIDRs (e.g. "127.0.0.0/8", "10.1.0.0/16", "::1/128") that may be private or loopback. */
  allowNetworks?: readonly string[];
  /** Injected resolver (tests); defaults to dns.lookup with all: true. */
  lookup?: LookupFn;
  /** Attempts per notification (default 5). */
  maxAttempts?: number;
  /** First retry delay; doubles each time up to maxDelayMs (defaults 500 ms, 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-attempt timeout (default 5 s). */
  timeoutMs?: number;
  /** Pending notifications per subscription; the oldest is dropped beyond (default 100). */
  maxQueue?: number;
  /** Dropped notifications in a row before the subscription ends (default 3). */
  maxConsecutiveFailures?: number;
  /** Callback subscriptions on the whole gateway (default 1000). */
  maxSubscriptions?: number;
  /** Injected for tests: the POST itself (resolves with the HTTP status) and the wait. */
  post?: (url: URL, body: string, guard: UrlGuard, timeoutMs: number) => Promise<number>;
  sleep?: (ms: number) => Promise<void>;
}

export interface CallbackEvents {
  delivered?: () => void;
  failed?: (attempt: number) => void;
  dropped?: () => void;
  /** The subscription ended because its endpoint kept failing. */
  gaveUp?: (subscriptionId: string) => void;
}

interface Entry {
  url: URL;
  queue: Notification[];
  running: boolean;
  failuresInRow: number;
  closed: boolean;
}

/** POST with node:http(s) so the guard's lookup picks the address actually connected to. */
export function guardedPost(url: URL, body: string, guard: UrlGuard, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "user-agent": "relais-callback",
        },
        lookup: guard.pinnedLookup as never,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          resolve(res.statusCode ?? 0);
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => {
      req.destroy(new Error("callback timed out"));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

export class CallbackDispatcher {
  readonly guard: UrlGuard;
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<Omit<CallbackOptions, "allowHosts" | "allowNetworks" | "lookup">>;

  constructor(
    options: CallbackOptions,
    private readonly log: Logger,
    private readonly events: CallbackEvents = {},
  ) {
    // Callback URLs come from API clients: public addresses only, unless the operator opens a network.
    this.guard = new UrlGuard({
      allowHosts:
        options.allowHosts !== undefined && options.allowHosts.length > 0 ? options.allowHosts : "any",
      allowNetworks: options.allowNetworks ?? [],
      ...(options.lookup ? { lookup: options.lookup } : {}),
      codes: { refused: "RELAIS_ERR_HTTP_CALLBACK_REFUSED", unresolved: "RELAIS_ERR_HTTP_CALLBACK_REFUSED" },
    });
    this.o = {
      maxAttempts: options.maxAttempts ?? 5,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 30_000,
      timeoutMs: options.timeoutMs ?? 5_000,
      maxQueue: options.maxQueue ?? 100,
      maxConsecutiveFailures: options.maxConsecutiveFailures ?? 3,
      maxSubscriptions: options.maxSubscriptions ?? 1000,
      post: options.post ?? guardedPost,
      sleep: options.sleep ?? defaultSleep,
    };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Checks the URL (throws RELAIS_ERR_HTTP_CALLBACK_REFUSED) and reserves a slot. */
  async prepare(rawUrl: string): Promise<URL> {
    if (this.entries.size >= this.o.maxSubscriptions)
      throw new RelaisError("RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT", "Too many callback subscriptions", {
        limit: this.o.maxSubscriptions,
      });
    return this.guard.check(rawUrl);
  }

  /**
   * A sink that buffers until `attach()` names the subscription (the core hands out the id only
   * after the subscription exists, and may notify right away).
   */
  sinkFor(url: URL): { sink: NotificationSink; attach: (subscriptionId: string) => void } {
    let id: string | null = null;
    const early: Notification[] = [];
    const sink: NotificationSink = (n) => {
      if (id === null) early.push(n);
      else this.enqueue(id, n);
    };
    const attach = (subscriptionId: string): void => {
      id = subscriptionId;
      this.entries.set(subscriptionId, { url, queue: [], running: false, failuresInRow: 0, closed: false });
      for (const n of early.splice(0)) this.enqueue(subscriptionId, n);
    };
    return { sink, attach };
  }

  has(subscriptionId: string): boolean {
    return this.entries.has(subscriptionId);
  }

  remove(subscriptionId: string): void {
    const e = this.entries.get(subscriptionId);
    if (e) e.closed = true;
    this.entries.delete(subscriptionId);
  }

  /** Stop every delivery loop (shutdown). */
  close(): string[] {
    const ids = [...this.entries.keys()];
    for (const id of ids) this.remove(id);
    return ids;
  }

  private enqueue(subscriptionId: string, n: Notification): void {
    const e = this.entries.get(subscriptionId);
    if (!e || e.closed) return;
    e.queue.push(n);
    if (e.queue.length > this.o.maxQueue) {
      e.queue.shift();
      this.events.dropped?.();
    }
    if (!e.running) {
      e.running = true;
      void this.drain(subscriptionId, e);
    }
  }

  private async drain(subscriptionId: string, e: Entry): Promise<void> {
    try {
      for (let n = e.queue.shift(); n !== undefined && !e.closed; n = e.queue.shift()) {
        const body = JSON.stringify({ type: "SUBSCRIPTION_NOTIFICATION", ...n });
        if (await this.deliver(e, body)) {
          e.failuresInRow = 0;
          this.events.delivered?.();
          continue;
        }
        this.events.dropped?.();
        e.failuresInRow += 1;
        if (e.failuresInRow >= this.o.maxConsecutiveFailures && !e.closed) {
          this.log.warn(
            { subscriptionId, host: e.url.host },
            "callback endpoint keeps failing: subscription ended",
          );
          this.remove(subscriptionId);
          this.events.gaveUp?.(subscriptionId);
        }
      }
    } finally {
      e.running = false;
    }
  }

  private async deliver(e: Entry, body: string): Promise<boolean> {
    for (let attempt = 1; attempt <= this.o.maxAttempts && !e.closed; attempt++) {
      try {
        const status = await this.o.post(e.url, body, this.guard, this.o.timeoutMs);
        if (status >= 200 && status < 300) return true;
        this.log.debug({ host: e.url.host, status, attempt }, "callback answered with an error status");
      } catch (err) {
        const code = err instanceof RelaisError ? err.code : (err as { code?: string }).code;
        this.log.debug({ host: e.url.host, attempt, code }, "callback failed");
        // A refused address will not become acceptable by retrying.
        if (err instanceof RelaisError && err.code === "RELAIS_ERR_HTTP_CALLBACK_REFUSED") return false;
      }
      this.events.failed?.(attempt);
      if (attempt < this.o.maxAttempts)
        await this.o.sleep(Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (attempt - 1)));
    }
    return false;
  }
}
