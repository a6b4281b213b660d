/**
 * The one outbound URL guard (RELIABILITY.md S11): the gateway must not be turned against
 * internal addresses, whoever makes the request (HTTP subscription callbacks, HTTP and MQTT
 * connectors). A URL passes when its scheme is allowed, it carries no credentials, its host is on
 * the allow-list, and EVERY address its host resolves to passes the address policy:
 *
 * - forbidden, always refused: link-local (169.254.0.0/16, fe80::/10) incl. the cloud metadata
 *   addresses (169.254.169.254, 100.100.100.200, fd00:ec2::254), unspecified, multicast and
 *   240.0.0.0/4;
 * - reserved (IETF protocol assignments, documentation, discard-only) and private or loopback
 *   (RFC 1918, RFC 6598, 198.18.0.0/15, fc00::/7, loopback): with `allowNetworks: "any"` they pass
 *   (connectors: local systems live there); with a CIDR list, a private or loopback address passes
 *   only inside one of those CIDRs and a reserved one never (callbacks).
 *
 * IPv4 carried in IPv6 (::ffff:0:0/96 and the NAT64 prefix 64:ff9b::/96, in any spelling) is
 * checked as the IPv4 address. `pinnedLookup` is a `lookup` for node:http/net: it resolves, checks
 * every address and connects to a checked one, so a DNS answer that changes between the check and
 * the connect (rebinding) cannot slip through.
 *
 * Lives outside adapters/ and connectors/ because both use it (STYLE.md: adapters never import
 * each other); it depends only on core/errors.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { RelaisError, type ErrorCode } from "../core/errors.js";

/** Host name resolution (every address), injectable so tests can map names to addresses. */
export type LookupFn = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemLookup: LookupFn = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) reject(err);
      else resolve(addresses);
    });
  });

export interface UrlGuardOptions {
  /**
   * Hosts that may be contacted: `host`, `host:port`, `*.example.org` (any subdomain), IP literals
   * (IPv6 with or without brackets; in brackets with a port). An empty list allows no host;
   * "any": every host whose addresses pass.
   */
  allowHosts: readonly string[] | "any";
  /**
   * Loopback, private and reserved addresses: "any" lets them all through (only the forbidden set
   * is refused); a list of CIDRs ("127.0.0.0/8", "::1/128") lets through the private or loopback
   * addresses they cover, and no reserved one.
   */
  allowNetworks: readonly string[] | "any";
  /** Accepted schemes, with the colon (default http: and https:). */
  protocols?: readonly string[];
  /** Defaults to dns.lookup with all: true. */
  lookup?: LookupFn;
  /** Codes thrown: the URL or an address is refused; the host name does not resolve. */
  codes: { refused: ErrorCode; unresolved: ErrorCode };
}

type Range = readonly [address: string, prefix: number, reason: string];

const FORBIDDEN: readonly Range[] = [
  ["169.254.169.254", 32, "cloud metadata address"],
  ["169.254.0.0", 16, "link-local / metadata address (169.254.0.0/16)"],
  ["100.100.100.200", 32, "cloud metadata address"],
  ["0.0.0.0", 8, "unspecified address (0.0.0.0/8)"],
  ["224.0.0.0", 4, "multicast address"],
  ["240.0.0.0", 4, "reserved address (240.0.0.0/4)"],
  ["fd00:ec2::254", 128, "cloud metadata address"],
  ["fe80::", 10, "link-local address (fe80::/10)"],
  ["::", 128, "unspecified address"],
  ["ff00::", 8, "multicast address"],
];
const RESERVED: readonly Range[] = [
  ["192.0.0.0", 24, "IETF protocol assignments (192.0.0.0/24)"],
  ["192.0.2.0", 24, "documentation address"],
  ["198.51.100.0", 24, "documentation address"],
  ["203.0.113.0", 24, "documentation address"],
  ["2001:db8::", 32, "documentation address"],
  ["100::", 64, "discard-only address"],
];
const PRIVATE: readonly Range[] = [
  ["10.0.0.0", 8, "private address"],
  ["100.64.0.0", 10, "shared address space (RFC 6598)"],
  ["127.0.0.0", 8, "loopback address"],
  ["172.16.0.0", 12, "private address"],
  ["192.168.0.0", 16, "private address"],
  ["198.18.0.0", 15, "benchmarking address"],
  ["::1", 128, "loopback address"],
  ["fc00::", 7, "unique local address (fc00::/7)"],
];

type Family = "ipv4" | "ipv6";
const familyOf = (address: string): Family => (isIP(address) === 6 ? "ipv6" : "ipv4");

function compile(ranges: readonly Range[]): readonly { block: BlockList; reason: string }[] {
  return ranges.map(([address, prefix, reason]) => {
    const block = new BlockList();
    block.addSubnet(address, prefix, familyOf(address));
    return { block, reason };
  });
}
const forbidden = compile(FORBIDDEN);
const reserved = compile(RESERVED);
const privateRanges = compile(PRIVATE);

const reasonIn = (
  ranges: readonly { block: BlockList; reason: string }[],
  address: string,
  family: Family,
): string | null => ranges.find((r) => r.block.check(address, family))?.reason ?? null;

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail counts as two), or null. */
function groups(v6: string): number[] | null {
  let a = v6;
  const tail = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (tail) {
    const [b0, b1, b2, b3] = tail.slice(2).map(Number) as [number, number, number, number];
    a = `${tail[1]!}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, rest] = a.split("::") as [string, string | undefined];
  const parse = (s: string): number[] => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = parse(head);
  if (rest === undefined) return h.length === 8 ? h : null;
  const t = parse(rest);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The IPv4 address of an IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96) address, or null. */
function embeddedV4(v6: string): string | null {
  const g = groups(v6);
  if (g === null) return null;
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0);
  if (!mapped && !nat64) return null;
  const hi = g[6]!;
  const lo = g[7]!;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** The address to check and its family: brackets dropped, IPv4 carried in IPv6 unwrapped. */
function normalise(address: string): { address: string; family: Family } | null {
  let a = address.toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  a = a.replace(/%.*$/, ""); // an IPv6 zone (fe80::1%eth0) names an interface, not an address
  const kind = isIP(a);
  if (kind === 0) return null;
  if (kind === 4) return { address: a, family: "ipv4" };
  const v4 = embeddedV4(a);
  return v4 !== null ? { address: v4, family: "ipv4" } : { address: a, family: "ipv6" };
}

/** Why this address is refused whatever the allow-lists say (metadata, link-local…), or null. */
export function forbiddenAddressReason(address: string): string | null {
  const n = normalise(address);
  return n === null ? null : reasonIn(forbidden, n.address, n.family);
}

const stripBrackets = (h: string): string => h.replace(/^\[|\]$/g, "");

/** Whether the URL's host (and port) matches an allow-list entry (see UrlGuardOptions.allowHosts). */
export function hostAllowed(url: URL, allowHosts: readonly string[]): boolean {
  const host = stripBrackets(url.hostname.toLowerCase());
  const port = url.port || (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");
  return allowHosts.some((raw) => {
    let h = raw.toLowerCase();
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(h);
    if (m) {
      if (m[2] !== port) return false;
      h = m[1]!;
    }
    h = stripBrackets(h);
    if (h.startsWith("*.")) return host.endsWith(h.slice(1)) && host.length > h.length - 1;
    return h === host;
  });
}

export class UrlGuard {
  private readonly allowHosts: readonly string[] | "any";
  /** null: "any" (every non-forbidden address passes). */
  private readonly allowed: BlockList | null;
  private readonly protocols: readonly string[];
  private readonly resolve: LookupFn;
  private readonly codes: UrlGuardOptions["codes"];

  constructor(options: UrlGuardOptions) {
    this.allowHosts = options.allowHosts;
    this.protocols = options.protocols ?? ["http:", "https:"];
    this.resolve = options.lookup ?? systemLookup;
    this.codes = options.codes;
    if (options.allowNetworks === "any") this.allowed = null;
    else {
      this.allowed = new BlockList();
      for (const cidr of options.allowNetworks) {
        const [addr, bits] = cidr.split("/");
        const family = addr === undefined ? 0 : isIP(addr);
        const prefix = Number(bits ?? (family === 6 ? 128 : 32));
        if (addr === undefined || family === 0 || !Number.isInteger(prefix))
          throw new RelaisError("RELAIS_ERR_CONFIG_INVALID", `not a CIDR: "${cidr}"`, { cidr });
        this.allowed.addSubnet(addr, prefix, family === 6 ? "ipv6" : "ipv4");
      }
    }
  }

  private refuse(reason: string, details: Record<string, unknown>): never {
    throw new RelaisError(this.codes.refused, `URL refused: ${reason}`, details);
  }

  /** Throws the `refused` code unless this address may be contacted. */
  checkAddress(address: string): void {
    const n = normalise(address);
    if (n === null) this.refuse("not an IP address", { address });
    const why = reasonIn(forbidden, n.address, n.family);
    if (why !== null) this.refuse(`${address}: ${why}`, { address });
    if (this.allowed === null) return;
    const res = reasonIn(reserved, n.address, n.family);
    if (res !== null) this.refuse(`${address}: ${res}`, { address });
    const priv = reasonIn(privateRanges, n.address, n.family);
    if (priv !== null && !this.allowed.check(n.address, n.family))
      this.refuse(`${address}: ${priv} outside the allowed networks`, { address });
  }

  /** Checks every address of a resolution; an empty answer is "does not resolve". */
  private checkAll(host: string, addresses: readonly { address: string }[]): void {
    if (addresses.length === 0)
      throw new RelaisError(this.codes.unresolved, `cannot resolve ${host}`, { host });
    for (const { address } of addresses) this.checkAddress(address);
  }

  /** Parses and checks a URL (scheme, credentials, host allow-list, every resolved address). */
  async check(raw: string | URL): Promise<URL> {
    let url: URL;
    try {
      url = typeof raw === "string" ? new URL(raw) : raw;
    } catch {
      return this.refuse("not a URL", { url: String(raw) });
    }
    if (!this.protocols.includes(url.protocol))
      this.refuse(`scheme ${url.protocol} is not allowed`, { url: url.origin });
    if (url.username !== "" || url.password !== "")
      this.refuse("credentials in the URL", { host: url.hostname });
    if (this.allowHosts !== "any" && !hostAllowed(url, this.allowHosts))
      this.refuse(`host ${url.host} is not on the allow-list`, { host: url.host });
    const host = stripBrackets(url.hostname);
    if (isIP(host) !== 0) {
      this.checkAddress(host);
      return url;
    }
    let addresses: { address: string }[];
    try {
      addresses = await this.resolve(host);
    } catch (e) {
      throw new RelaisError(this.codes.unresolved, `cannot resolve ${host}`, { host }, { cause: e });
    }
    this.checkAll(host, addresses);
    return url;
  }

  /**
   * A `lookup` for http.request / net.connect: resolves, checks every address, and connects to a
   * checked one. Node skips `lookup` for IP literals, which check() covers.
   */
  readonly pinnedLookup = (
    hostname: string,
    options: { all?: boolean },
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    this.resolve(hostname).then(
      (addresses) => {
        try {
          this.checkAll(hostname, addresses);
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
