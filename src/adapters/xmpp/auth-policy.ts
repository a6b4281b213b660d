/**
 * Which SASL mechanism to use, and whether to authenticate at all (RELIABILITY S9). Pure.
 *
 * - On loopback, PLAIN is preferred: @xmpp/client's JavaScript SCRAM costs about 1 s per login
 *   (measured, shared/reference/xmpp-server.md) and the password never leaves the machine.
 * - Outside loopback the stream must be TLS (STARTTLS or xmpps://); @xmpp/client would otherwise
 *   continue in plaintext when the server offers no STARTTLS. Refused unless `allowInsecure`.
 * - Outside loopback, SCRAM is preferred over PLAIN (no password on the wire even inside TLS).
 */
import { isIPv4, isIPv6 } from "node:net";
import type { ErrorCode } from "../../core/errors.js";

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined || address === "") return false;
  const a = address.toLowerCase().replace(/^\[|\]$/g, "");
  if (a === "localhost") return true;
  if (isIPv4(a)) return a.startsWith("127.");
  if (isIPv6(a)) return a === "::1" || /^::ffff:127\./.test(a);
  return false;
}

export interface AuthContext {
  /** Mechanisms the server offers that the client supports, in client preference order. */
  offered: readonly string[];
  /** The stream is TLS-protected. */
  secure: boolean;
  /** The peer address of the socket (not the configured name: DNS may point anywhere). */
  remoteAddress: string | undefined;
  allowInsecure: boolean;
}

export type AuthDecision = { mechanism: string } | { refuse: ErrorCode; reason: string };

const PREFERENCE_REMOTE = ["SCRAM-SHA-1", "PLAIN"];

export function chooseMechanism(ctx: AuthContext): AuthDecision {
  const loopback = isLoopbackAddress(ctx.remoteAddress);
  if (!ctx.secure && !loopback && !ctx.allowInsecure) {
    return {
      refuse: "RELAIS_ERR_XMPP_INSECURE",
      reason: `server ${ctx.remoteAddress ?? "?"} offers no TLS`,
    };
  }
  if (loopback && ctx.offered.includes("PLAIN")) return { mechanism: "PLAIN" };
  for (const m of PREFERENCE_REMOTE) {
    // never PLAIN in clear text outside loopback, even when plaintext is allowed
    if (m === "PLAIN" && !ctx.secure && !loopback) continue;
    if (ctx.offered.includes(m)) return { mechanism: m };
  }
  return {
    refuse: "RELAIS_ERR_XMPP_AUTH_FAILED",
    reason: `no acceptable SASL mechanism among ${ctx.offered.join(", ") || "none"}`,
  };
}
