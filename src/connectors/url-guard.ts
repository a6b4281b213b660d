/**
 * Outbound URL guard (RELIABILITY.md S11): a connector may only talk to hosts on its allow-list,
 * and never to link-local / cloud metadata addresses, whatever the allow-list says. The host is
 * resolved first and every address it resolves to is checked, so a friendly name pointing at
 * 169.254.169.254 is refused too. Loopback and private ranges stay allowed: local systems live there.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { RelaisError } from "../core/errors.js";
import type { LookupFn } from "./ports.js";

export const systemLookup: LookupFn = async (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Addresses refused whatever the allow-list: metadata services and link-local ranges. */
export function forbiddenAddressReason(address: string): string | null {
  let a = address.toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1]!;
  if (isIP(a) === 4) {
    const o = a.split(".").map(Number);
    if (o[0] === 169 && o[1] === 254) return "link-local / metadata address (169.254.0.0/16)";
    if (a === "100.100.100.200") return "cloud metadata address";
    if (o[0] === 0) return "unspecified address (0.0.0.0/8)";
    if (o[0]! >= 224) return "multicast or reserved address";
    return null;
  }
  if (isIP(a) === 6) {
    if (/^fe[89ab][0-9a-f]:/.test(a)) return "link-local address (fe80::/10)";
    if (a === "fd00:ec2::254") return "cloud metadata address";
    if (a === "::") return "unspecified address";
    if (a.startsWith("ff")) return "multicast address";
    return null;
  }
  return null;
}

/** `host`, `host:port`, `*.example.org` (any subdomain), IP literals (IPv6 in brackets with a port). */
export function hostAllowed(url: URL, allowHosts: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");
  return allowHosts.some((raw) => {
    const entry = raw.toLowerCase();
    let h = entry;
    let p: string | null = null;
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (m) {
      h = m[1]!;
      p = m[2]!;
    }
    if (p !== null && p !== port) return false;
    if (h.startsWith("*.")) return host.endsWith(h.slice(1));
    return h === host;
  });
}

export interface GuardOptions {
  allowHosts: readonly string[];
  lookup?: LookupFn;
  protocols?: readonly string[];
}

/**
 * Checks a URL before a request: scheme, allow-list, then every resolved address.
 * Throws RELAIS_ERR_CONNECTOR_URL_FORBIDDEN (not retryable) or _UNREACHABLE (name does not resolve).
 */
export async function checkUrl(raw: string | URL, opts: GuardOptions): Promise<URL> {
  let url: URL;
  try {
    url = typeof raw === "string" ? new URL(raw) : raw;
  } catch {
    throw new RelaisError("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN", `not a URL: ${String(raw)}`, {
      url: String(raw),
    });
  }
  const protocols = opts.protocols ?? ["http:", "https:"];
  if (!protocols.includes(url.protocol))
    throw new RelaisError("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN", `scheme ${url.protocol} is not allowed`, {
      url: url.origin,
    });
  if (url.username || url.password)
    throw new RelaisError(
      "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN",
      "credentials in the URL are refused; use the connector's auth",
      { host: url.hostname },
    );
  if (!hostAllowed(url, opts.allowHosts))
    throw new RelaisError("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN", `host ${url.host} is not on the allow-list`, {
      host: url.host,
    });
  const literal = forbiddenAddressReason(url.hostname);
  if (literal)
    throw new RelaisError("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN", `${url.hostname}: ${literal}`, {
      host: url.hostname,
    });
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addrs: { address: string }[];
  try {
    addrs = await (opts.lookup ?? systemLookup)(host);
  } catch (e) {
    throw new RelaisError(
      "RELAIS_ERR_CONNECTOR_UNREACHABLE",
      `cannot resolve ${host}`,
      { host },
      {
        cause: e,
      },
    );
  }
  for (const { address } of addrs) {
    const why = forbiddenAddressReason(address);
    if (why)
      throw new RelaisError("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN", `${host} resolves to ${address}: ${why}`, {
        host,
        address,
      });
  }
  return url;
}
