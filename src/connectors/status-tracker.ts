/**
 * Per-connector health bookkeeping shared by every connector kind: counters for /metrics, the last
 * error with its code, and the up/degraded/down state for /health/ready. Also the backoff policy.
 */
import { isRelaisError } from "../core/errors.js";
import type { Clock, Logger } from "../core/ports.js";
import type { ConnectorState, ConnectorStatus } from "./ports.js";

export class StatusTracker {
  private state: ConnectorState = "stopped";
  private lastError: ConnectorStatus["lastError"] = null;
  private lastSuccessAt: number | null = null;
  private lastLoggedAt = 0;
  private readonly counters: Record<string, number>;

  constructor(
    private readonly name: string,
    private readonly kind: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    counterNames: readonly string[],
  ) {
    this.counters = Object.fromEntries(counterNames.map((n) => [n, 0]));
  }

  inc(counter: string, by = 1): void {
    this.counters[counter] = (this.counters[counter] ?? 0) + by;
  }

  get(counter: string): number {
    return this.counters[counter] ?? 0;
  }

  setState(state: ConnectorState): void {
    this.state = state;
  }

  get current(): ConnectorState {
    return this.state;
  }

  success(): void {
    this.lastSuccessAt = this.clock.now();
  }

  /** Records and logs an error with its code; returns the code. Never throws. */
  error(e: unknown, context: Record<string, unknown> = {}, level: "warn" | "error" = "warn"): string {
    const code = isRelaisError(e) ? e.code : "RELAIS_ERR_INTERNAL_BUG";
    const message = e instanceof Error ? e.message : String(e);
    const now = this.clock.now();
    // A system that stays down must not flood the log: the same code within a minute goes to debug.
    const repeat = this.lastError?.code === code && now - this.lastLoggedAt < 60_000;
    this.lastError = { code, message, at: now };
    const details = isRelaisError(e) ? e.details : {};
    if (repeat) this.logger.debug({ code, connector: this.name, ...details, ...context }, message);
    else {
      this.lastLoggedAt = now;
      this.logger[level]({ code, connector: this.name, ...details, ...context }, message);
    }
    return code;
  }

  status(): ConnectorStatus {
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      lastError: this.lastError ? { ...this.lastError } : null,
      counters: { ...this.counters },
      lastSuccessAt: this.lastSuccessAt,
    };
  }
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** Exponential backoff with full jitter in [delay/2, delay] (attempt 1 → base). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const exp = Math.min(o.maxMs, o.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
