/** An in-process lock for jobs on the memory stores (the PostgreSQL lock covers several instances). */
export class Mutex {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  get locked(): boolean {
    return this.held;
  }

  /** Runs fn if the lock is free; returns undefined without running it when held. */
  async tryRun<T>(fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    if (this.held) return { ran: false };
    this.held = true;
    try {
      return { ran: true, value: await fn() };
    } finally {
      this.release();
    }
  }

  /** Waits for the lock, then runs fn. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.held) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.held = true;
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private release(): void {
    this.held = false;
    this.waiters.shift()?.();
  }
}
