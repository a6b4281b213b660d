/**
 * Outbound URL guard for subscription callbacks (RELIABILITY.md S11): the gateway must not be
 * turned against internal addresses. A host name is resolved and EVERY address is checked; the
 * connection then uses the checked address (custom `lookup`), so a DNS answer that changes between
 * the check and the connect (rebinding) cannot slip through.
 *
 * - link-local (169.254.0.0/16, fe80::/10, incl. the cloud metadata address 169.254.169.254),
 *   unspecified, multicast and reserved ranges: always refused;
 * - loopback and private ranges (RFC 1918, RFC 6598, fc00::/7, loopback): refused unless an
 *   `allowNetworks` CIDR covers the address;
 * - `allowHosts`, when non-empty, is an allow-list of host names (`example.org`, `*.example.org`):
 *   any other host is refused.
 */
import { BlockList, isIP } from "node:net";
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { RelaisError } from "../../core/errors.js";

export interface UrlGuardOptions {
  /** Host names allowed as callback targets; empty or absent: any host with public addresses. */
  allowHosts?: readonly string[];
  /** CIDRs (e.g. "127.0.0.0/8", "10.1.0.0/16", "::1/128") that may be private or loopback. */
  allowNetworks?: readonly string[];
  /** Injected resolver (tests); defaults to dns.lookup with all: true. */
  resolve?: (host: string) => Promise<LookupAddress[]>;
}

const NEVER_V4 = [
  ["0.0.0.0", 8],
  ["169.254.0.0", 16],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const;
const NEVER_V6 = [
  ["::", 128],
  ["fe80::", 10],
  ["ff00::", 8],
  ["2001:db8::", 32],
  ["100::", 64],
] as const;
const PRIVATE_V4 = [
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
] as const;
const PRIVATE_V6 = [
  ["::1", 128],
  ["fc00::", 7],
] as const;

function list(
  v4: readonly (readonly [string, number])[],
  v6: readonly (readonly [string, number])[],
): BlockList {
  const b = new BlockList();
  for (const [a, p] of v4) b.addSubnet(a, p, "ipv4");
  for (const [a, p] of v6) b.addSubnet(a, p, "ipv6");
  return b;
}

const never = list(NEVER_V4, NEVER_V6);
const privateRanges = list(PRIVATE_V4, PRIVATE_V6);

/** ::ffff:a.b.c.d and the NAT64 well-known prefix carry an IPv4 address: check that one. */
function embeddedV4(address: string): string | null {
  const m = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m?.[1] !== undefined) return m[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex?.[1] !== undefined && hex[2] !== undefined) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

function refuse(reason: string, details: Record<string, unknown>): never {
  throw new RelaisError("RELAIS_ERR_HTTP_CALLBACK_REFUSED", `Callback URL refused: ${reason}`, details);
}

export class UrlGuard {
  private readonly allowHosts: readonly string[];
  private readonly allowed = new BlockList();
  private readonly resolve: (host: string) => Promise<LookupAddress[]>;

  constructor(options: UrlGuardOptions = {}) {
    this.allowHosts = (options.allowHosts ?? []).map((h) => h.toLowerCase());
    for (const cidr of options.allowNetworks ?? []) {
      const [addr, bits] = cidr.split("/");
      const family = addr === undefined ? 0 : isIP(addr);
      const prefix = Number(bits ?? (family === 6 ? 128 : 32));
      if (addr === undefined || family === 0 || !Number.isInteger(prefix))
        throw new RelaisError("RELAIS_ERR_CONFIG_INVALID", `not a CIDR: "${cidr}"`, { cidr });
      this.allowed.addSubnet(addr, prefix, family === 6 ? "ipv6" : "ipv4");
    }
    this.resolve =
      options.resolve ??
      ((host) =>
        new Promise((resolve, reject) => {
          dnsLookup(host, { all: true, verbatim: true }, (err, addresses) => {
            if (err) reject(err);
            else resolve(addresses);
          });
        }));
  }

  /** Throws RELAIS_ERR_HTTP_CALLBACK_REFUSED unless this address may be contacted. */
  checkAddress(address: string): void {
    const family = isIP(address);
    if (family === 0) refuse("not an IP address", { address });
    const v4 = family === 6 ? embeddedV4(address) : address;
    const [addr, type] = v4 !== null ? ([v4, "ipv4"] as const) : ([address, "ipv6"] as const);
    if (never.check(addr, type)) refuse("link-local, metadata or reserved address", { address });
    if (privateRanges.check(addr, type) && !this.allowed.check(addr, type))
      refuse("private or loopback address", { address });
  }

  private checkHostName(host: string): void {
    if (this.allowHosts.length === 0) return;
    const h = host.toLowerCase();
    const ok = this.allowHosts.some((a) =>
      a.startsWith("*.") ? h.endsWith(a.slice(1)) && h.length > a.length - 1 : h === a,
    );
    if (!ok) refuse("host not in the allow-list", { host });
  }

  /** Parse and check a callback URL (scheme, credentials, host allow-list, every resolved address). */
  async check(raw: string): Promise<URL> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return refuse("not a URL", { url: raw });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") refuse("only http and https", { url: raw });
    if (url.username !== "" || url.password !== "") refuse("credentials in the URL", {});
    const host = url.hostname.replace(/^\[|\]$/g, "");
    this.checkHostName(host);
    if (isIP(host) !== 0) {
      this.checkAddress(host);
      return url;
    }
    let addresses: LookupAddress[];
    try {
      addresses = await this.resolve(host);
    } catch {
      return refuse("host name does not resolve", { host });
    }
    if (addresses.length === 0) refuse("host name does not resolve", { host });
    for (const a of addresses) this.checkAddress(a.address);
    return url;
  }

  /**
   * A `lookup` for http.request: resolves, checks every address, and connects to a checked one.
   * Node skips `lookup` for IP literals, which check() covers.
   */
  readonly lookup = (
    hostname: string,
    options: { all?: boolean },
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    this.resolve(hostname).then(
      (addresses) => {
        try {
          if (addresses.length === 0) refuse("host name does not resolve", { host: hostname });
          for (const a of addresses) this.checkAddress(a.address);
        } catch (e) {
          callback(e as Error, "", 0);
          return;
        }
        if (options.all === true) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: unknown) => {
        callback(err as Error, "", 0);
      },
    );
  };
}
