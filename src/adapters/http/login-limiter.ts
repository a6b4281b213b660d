/**
 * Failed-login limiter per client IP (RELIABILITY.md S11 "login flood → 429"). A fixed window:
 * after `maxFailures` failed logins within `windowMs`, the client is refused (429 with Retry-After)
 * until the window that started with its first failure ends. A successful login does not reset the
 * count (else one valid account would let a client brute-force the others). Memory is bounded: at most
 * `maxClients` addresses are tracked, the oldest windows are forgotten first.
 */
import type { Clock } from "../../core/ports.js";

export interface LoginLimitOptions {
  /** Failed logins allowed per window (default 10). */
  maxFailures?: number;
  /** Window length (default 60 s). */
  windowMs?: number;
  /** Addresses tracked at most (default 10,000). */
  maxClients?: number;
}

interface Window {
  start: number;
  failures: number;
}

export class LoginLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxClients: number;

  constructor(
    options: LoginLimitOptions,
    private readonly clock: Clock,
  ) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxClients = options.maxClients ?? 10_000;
  }

  private current(ip: string): Window | undefined {
    const w = this.windows.get(ip);
    if (w && this.clock.now() - w.start >= this.windowMs) {
      this.windows.delete(ip);
      return undefined;
    }
    return w;
  }

  /** Seconds the client must wait, or 0 when it may try to log in. */
  retryAfter(ip: string): number {
    const w = this.current(ip);
    if (!w || w.failures < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - this.clock.now()) / 1000));
  }

  fail(ip: string): void {
    const w = this.current(ip);
    if (w) {
      w.failures += 1;
      return;
    }
    if (this.windows.size >= this.maxClients) {
      // Map iteration order is insertion order: the first key is the oldest window.
      const oldest = this.windows.keys().next();
      if (oldest.done !== true) this.windows.delete(oldest.value);
    }
    this.windows.set(ip, { start: this.clock.now(), failures: 1 });
  }
}
