/** Deterministic test doubles for core ports: a settable clock and a manually ticked scheduler. */
import type { Clock, Scheduler } from "../ports.js";

export class FakeClock implements Clock {
  constructor(public time = 1_700_000_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A Scheduler whose tasks run only when advance() is called; moves the FakeClock along. */
export class ManualScheduler implements Scheduler {
  private tasks: { interval: number; next: number; task: () => void; cancelled: boolean }[] = [];

  constructor(private readonly clock: FakeClock) {}

  every(intervalMs: number, task: () => void): () => void {
    const entry = { interval: intervalMs, next: this.clock.now() + intervalMs, task, cancelled: false };
    this.tasks.push(entry);
    return () => {
      entry.cancelled = true;
      this.tasks = this.tasks.filter((t) => t !== entry);
    };
  }

  get pending(): number {
    return this.tasks.length;
  }

  /** Advances the clock by `ms`, running every due task in time order. */
  advance(ms: number): void {
    const end = this.clock.now() + ms;
    for (;;) {
      const due = this.tasks.filter((t) => !t.cancelled && t.next <= end).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.clock.time = due.next;
      due.next += due.interval;
      due.task();
    }
    this.clock.time = end;
  }
}

/** Crypto without node:crypto, for unit tests only: NOT secure (plain-text "hashes"). */
export class InsecureTestCrypto {
  private n = 0;
  async hashPassword(password: string): Promise<string> {
    return `test$${password}`;
  }
  async verifyPassword(password: string, hash: string): Promise<boolean> {
    return hash === `test$${password}`;
  }
  randomToken(): string {
    return `tok-${(++this.n).toString(36)}-${"x".repeat(20)}`;
  }
  sha256Hex(text: string): string {
    // FNV-1a, hex: stable and distinct enough for tests.
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return `fnv${h.toString(16)}${text.length.toString(16)}`;
  }
  randomId(): string {
    return `id-${(++this.n).toString(36)}`;
  }
}
