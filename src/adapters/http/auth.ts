/**
 * Authentication at the edge (CONTRACTS.md §3): `Authorization: Bearer <token>` or Basic
 * `user:password`; no header means the anonymous caller. WebSocket clients that cannot set headers
 * (browsers) may offer the sub-protocol `bearer.<token>` instead. Failed logins are counted per
 * client IP and answered 429 with Retry-After once over the limit (RELIABILITY.md S11).
 */
import { timingSafeEqual, createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { RelaisError } from "../../core/errors.js";
import type { AccessLevel } from "../../core/ports.js";
import type { LoginLimiter } from "./login-limiter.js";
import type { Credentials, HttpCaller, NorthboundGateway } from "./ports.js";

const RANK: Record<AccessLevel, number> = { ANONYMOUS: 0, AUTHENTICATED: 1, ADMIN: 2, OWNER: 3 };

export function atLeast(caller: HttpCaller, level: AccessLevel): boolean {
  return RANK[caller.level] >= RANK[level];
}

/** Parse an Authorization header; throws 401 for a scheme or encoding we do not accept. */
export function parseAuthorization(header: string): Credentials {
  const m = /^\s*(\S+)\s+(\S.*?)\s*$/.exec(header);
  const scheme = m?.[1]?.toLowerCase();
  const value = m?.[2] ?? "";
  if (scheme === "bearer" && value !== "") return { kind: "bearer", token: value };
  if (scheme === "basic" && /^[A-Za-z0-9+/]+=*$/.test(value)) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0)
      return { kind: "basic", user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  throw new RelaisError("RELAIS_ERR_HTTP_UNAUTHENTICATED", "Unsupported or malformed Authorization header");
}

/** `bearer.<token>` among the offered WebSocket sub-protocols. */
export function tokenFromSubprotocols(header: string | undefined): string | null {
  if (header === undefined) return null;
  for (const p of header.split(",")) {
    const t = p.trim();
    if (t.startsWith("bearer.") && t.length > 7) return t.slice(7);
  }
  return null;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

export interface Authenticator {
  /**
   * The caller of a request. Answers at once (no promise) when no password or stored token has to
   * be checked, i.e. for anonymous callers and the bootstrap admin token: most requests.
   */
  resolve(req: FastifyRequest): HttpCaller | Promise<HttpCaller>;
}

export function createAuthenticator(
  gateway: NorthboundGateway,
  limiter: LoginLimiter,
  adminToken: string | null,
  onFailure: () => void,
): Authenticator {
  const adminDigest = adminToken === null || adminToken === "" ? null : digest(adminToken);
  const adminCaller: HttpCaller = { name: "admin", level: "ADMIN", handle: null };

  return {
    resolve(req) {
      const header = req.headers.authorization;
      let credentials: Credentials;
      if (header !== undefined && header !== "") credentials = parseAuthorization(header);
      else {
        const token = tokenFromSubprotocols(req.headers["sec-websocket-protocol"]);
        if (token === null) return gateway.anonymous();
        credentials = { kind: "bearer", token };
      }
      const wait = limiter.retryAfter(req.ip);
      if (wait > 0)
        throw new RelaisError("RELAIS_ERR_HTTP_RATE_LIMITED", undefined, { retryAfterSeconds: wait });
      // The bootstrap admin token (RELAIS_ADMIN_TOKEN): compared in constant time.
      if (credentials.kind === "bearer" && adminDigest !== null) {
        if (timingSafeEqual(digest(credentials.token), adminDigest))
          return gateway.adminCaller?.() ?? adminCaller;
      }
      return gateway.authenticate(credentials).then((caller) => {
        if (caller === null) {
          limiter.fail(req.ip);
          onFailure();
          throw new RelaisError("RELAIS_ERR_HTTP_UNAUTHENTICATED");
        }
        return caller;
      });
    },
  };
}
