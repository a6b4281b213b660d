/**
 * Retry delays of the Outbox and Inbox: exponential backoff with jitter, so that many rows failing
 * together (a peer restart) do not all come back at the same instant.
 */
export interface BackoffOptions {
  /** Delay before the first retry (ms). */
  baseMs: number;
  /** Upper bound of any delay (ms). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, maxMs: 5 * 60_000 };

/**
 * Delay before attempt `attempt + 1`, given that `attempt` (≥ 1) attempts failed: "equal jitter",
 * half of the exponential step fixed and half random, capped at maxMs. `random` returns [0, 1).
 */
export function retryDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(attempt));
  const step = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(n - 1, 30));
  return Math.round(step / 2 + (step / 2) * random());
}
