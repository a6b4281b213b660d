/**
 * Who is calling. Every access method takes a Principal; the edges (HTTP, CLI, federation)
 * get one from Gateway.authenticate*() and pass it along.
 */
import type { AccessLevel } from "../ports.js";

export interface Principal {
  /** Account name; null for the anonymous caller. */
  readonly account: string | null;
  readonly level: AccessLevel;
}

export const ANONYMOUS: Principal = Object.freeze({ account: null, level: "ANONYMOUS" });

const RANK: Record<AccessLevel, number> = { ANONYMOUS: 0, AUTHENTICATED: 1, ADMIN: 2, OWNER: 3 };

export const ACCESS_LEVELS: readonly AccessLevel[] = ["ANONYMOUS", "AUTHENTICATED", "ADMIN", "OWNER"];

export function isAccessLevel(v: unknown): v is AccessLevel {
  return typeof v === "string" && Object.hasOwn(RANK, v);
}

/** a ≥ b in ANONYMOUS < AUTHENTICATED < ADMIN < OWNER. */
export function levelAtLeast(a: AccessLevel, b: AccessLevel): boolean {
  return RANK[a] >= RANK[b];
}

/** A principal for an account. */
export function principal(account: string, level: AccessLevel): Principal {
  return Object.freeze({ account, level });
}
