import { describe, expect, it } from "vitest";
import type { RelaisError } from "../core/errors.js";
import {
  forbiddenAddressReason,
  hostAllowed,
  UrlGuard,
  type LookupFn,
  type UrlGuardOptions,
} from "./url-guard.js";

const resolveTo =
  (map: Record<string, string[]>): LookupFn =>
  async (host) =>
    (map[host] ?? []).map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
const lookupTo = (address: string) => async () => [{ address, family: address.includes(":") ? 6 : 4 }];

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as RelaisError).code;
  }
}

/** The policy of HTTP subscription callbacks (adapters/http/callbacks.ts). */
const callbackGuard = (o: Partial<UrlGuardOptions> = {}) =>
  new UrlGuard({
    allowHosts: "any",
    allowNetworks: [],
    codes: { refused: "RELAIS_ERR_HTTP_CALLBACK_REFUSED", unresolved: "RELAIS_ERR_HTTP_CALLBACK_REFUSED" },
    ...o,
  });

/** The policy of the HTTP and MQTT connectors (connectors/http, connectors/mqtt). */
const checkUrl = (raw: string, o: Pick<UrlGuardOptions, "allowHosts" | "lookup" | "protocols">) =>
  new UrlGuard({
    allowNetworks: "any",
    codes: { refused: "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN", unresolved: "RELAIS_ERR_CONNECTOR_UNREACHABLE" },
    ...o,
  }).check(raw);

const refused = async (g: UrlGuard, url: string) => {
  await expect(g.check(url), url).rejects.toMatchObject({ code: "RELAIS_ERR_HTTP_CALLBACK_REFUSED" });
};

describe("UrlGuard, callback policy (public addresses unless a network is allowed)", () => {
  it("refuses metadata, link-local, loopback and private addresses by default", async () => {
    const g = callbackGuard({ lookup: resolveTo({}) });
    for (const u of [
      "http://169.254.169.254/latest/meta-data/",
      "http://[fe80::1]/",
      "http://127.0.0.1:8080/",
      "http://10.0.0.5/",
      "http://192.168.1.1/",
      "http://172.16.0.1/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::ffff:a9fe:a9fe]/",
      "http://[fd00:ec2::254]/",
      "http://0.0.0.0/",
      // NAT64 carries the IPv4 address: the URL parser writes it in hex.
      "http://[64:ff9b::169.254.169.254]/",
      "http://[64:ff9b::a00:1]/",
      "http://192.0.2.1/",
      "http://[2001:db8::1]/",
    ])
      await refused(g, u);
  });
  it("checks every resolved address of a host name", async () => {
    const g = callbackGuard({
      lookup: resolveTo({ "mixed.example": ["93.184.216.34", "10.1.2.3"], "ok.example": ["93.184.216.34"] }),
    });
    await refused(g, "http://mixed.example/hook");
    await expect(g.check("https://ok.example/hook")).resolves.toBeInstanceOf(URL);
    await refused(g, "http://unresolvable.example/");
  });
  it("refuses other schemes and credentials in the URL", async () => {
    const g = callbackGuard({ lookup: resolveTo({ "ok.example": ["93.184.216.34"] }) });
    await refused(g, "file:///etc/passwd");
    await refused(g, "gopher://ok.example/");
    await refused(g, "http://user:pw@ok.example/");
    await refused(g, "not a url");
  });
  it("allowNetworks opens private ranges but never link-local", async () => {
    const g = callbackGuard({ allowNetworks: ["127.0.0.0/8", "169.254.0.0/16"], lookup: resolveTo({}) });
    await expect(g.check("http://127.0.0.1:9/")).resolves.toBeInstanceOf(URL);
    await refused(g, "http://169.254.169.254/");
    await refused(g, "http://10.0.0.1/");
  });
  it("allowNetworks never opens metadata or documentation addresses", async () => {
    const g = callbackGuard({
      allowNetworks: ["100.64.0.0/10", "fc00::/7", "192.0.2.0/24"],
      lookup: resolveTo({}),
    });
    await expect(g.check("http://100.64.0.1/")).resolves.toBeInstanceOf(URL);
    await refused(g, "http://100.100.100.200/");
    await refused(g, "http://[fd00:ec2::254]/");
    await refused(g, "http://192.0.2.1/");
    expect(() => callbackGuard({ allowNetworks: ["not-a-cidr"] })).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_CONFIG_INVALID" }),
    );
  });
  it("allowHosts restricts the host names", async () => {
    const g = callbackGuard({
      allowHosts: ["*.partner.example"],
      lookup: resolveTo({ "a.partner.example": ["93.184.216.34"], "evil.example": ["93.184.216.34"] }),
    });
    await expect(g.check("https://a.partner.example/")).resolves.toBeInstanceOf(URL);
    await refused(g, "https://evil.example/");
    await refused(g, "https://partner.example.evil.example/");
  });
  it("the connect-time lookup refuses a host that now resolves inside", async () => {
    const g = callbackGuard({ lookup: resolveTo({ "rebind.example": ["127.0.0.1"] }) });
    const err = await new Promise<Error | null>((resolve) => {
      g.pinnedLookup("rebind.example", {}, (e) => {
        resolve(e);
      });
    });
    expect(err).toMatchObject({ code: "RELAIS_ERR_HTTP_CALLBACK_REFUSED" });
  });
  it("the connect-time lookup hands out the checked addresses", async () => {
    const g = callbackGuard({ lookup: resolveTo({ "ok.example": ["93.184.216.34", "2606:2800:220:1::1"] }) });
    const one = await new Promise<unknown[]>((resolve) => {
      g.pinnedLookup("ok.example", {}, (...args) => {
        resolve(args);
      });
    });
    expect(one).toEqual([null, "93.184.216.34", 4]);
    const all = await new Promise<unknown[]>((resolve) => {
      g.pinnedLookup("ok.example", { all: true }, (...args) => {
        resolve(args);
      });
    });
    expect(all).toEqual([
      null,
      [
        { address: "93.184.216.34", family: 4 },
        { address: "2606:2800:220:1::1", family: 6 },
      ],
    ]);
  });
});

describe("UrlGuard, connector policy (allow-list; local networks open) (RELIABILITY.md S11)", () => {
  it("refuses link-local and metadata addresses in every spelling", () => {
    for (const a of [
      "169.254.169.254",
      "169.254.0.1",
      "::ffff:169.254.169.254",
      "[fe80::1]",
      "fd00:ec2::254",
      "0.0.0.0",
      "100.100.100.200",
      "::ffff:a9fe:a9fe",
      "0:0:0:0:0:ffff:a9fe:a9fe",
      "64:ff9b::a9fe:a9fe",
      "fe80::1%eth0",
    ])
      expect(forbiddenAddressReason(a), a).not.toBeNull();
    for (const a of ["127.0.0.1", "10.0.0.5", "192.168.1.2", "::1", "2001:db8::1"])
      expect(forbiddenAddressReason(a), a).toBeNull();
  });

  it("matches allow-list entries by host, host:port and *.suffix", () => {
    const u = new URL("http://api.example.org:8080/x");
    expect(hostAllowed(u, ["api.example.org"])).toBe(true);
    expect(hostAllowed(u, ["api.example.org:8080"])).toBe(true);
    expect(hostAllowed(u, ["api.example.org:80"])).toBe(false);
    expect(hostAllowed(u, ["*.example.org"])).toBe(true);
    expect(hostAllowed(u, ["example.org"])).toBe(false);
    expect(hostAllowed(new URL("http://[::1]:9/"), ["[::1]:9"])).toBe(true);
    expect(hostAllowed(new URL("http://[::1]:9/"), ["[::1]:10"])).toBe(false);
    expect(hostAllowed(new URL("https://example.org/"), ["example.org:443"])).toBe(true);
    expect(hostAllowed(new URL("https://example.org/"), [])).toBe(false);
  });

  it("refuses a host outside the allow-list, a metadata IP even when allowed, and a name resolving to one", async () => {
    const allow = { allowHosts: ["127.0.0.1", "169.254.169.254", "metadata.local", "good.local"] };
    expect(await code(checkUrl("http://evil.example/", allow))).toBe("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN");
    expect(await code(checkUrl("http://169.254.169.254/latest/meta-data", allow))).toBe(
      "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN",
    );
    // The WHATWG parser normalises decimal IPv4 to dotted form: still refused.
    expect(await code(checkUrl("http://2852039166/", { allowHosts: ["169.254.169.254"] }))).toBe(
      "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN",
    );
    expect(
      await code(checkUrl("http://metadata.local/", { ...allow, lookup: lookupTo("169.254.169.254") })),
    ).toBe("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN");
    expect(await code(checkUrl("http://good.local/", { ...allow, lookup: lookupTo("10.1.2.3") }))).toBe("ok");
    expect(await code(checkUrl("http://127.0.0.1:1/", allow))).toBe("ok");
    expect(await code(checkUrl("file:///etc/passwd", allow))).toBe("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN");
    expect(await code(checkUrl("http://u:p@127.0.0.1/", allow))).toBe("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN");
    expect(
      await code(
        checkUrl("http://good.local/", {
          ...allow,
          lookup: async () => {
            throw new Error("ENOTFOUND");
          },
        }),
      ),
    ).toBe("RELAIS_ERR_CONNECTOR_UNREACHABLE");
  });

  it("refuses an IPv4-mapped metadata address even when allow-listed, and an empty answer", async () => {
    // new URL() writes [::ffff:169.254.169.254] as [::ffff:a9fe:a9fe].
    const allowHosts = ["[::ffff:a9fe:a9fe]", "empty.local"];
    expect(await code(checkUrl("http://[::ffff:169.254.169.254]/", { allowHosts }))).toBe(
      "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN",
    );
    expect(await code(checkUrl("http://empty.local/", { allowHosts, lookup: async () => [] }))).toBe(
      "RELAIS_ERR_CONNECTOR_UNREACHABLE",
    );
  });

  it("takes the connector's schemes, and an empty allow-list allows nothing", async () => {
    const mqtt = ["mqtt:", "mqtts:", "ws:", "wss:"];
    const lookup = lookupTo("10.0.0.7");
    expect(
      await code(
        checkUrl("mqtt://broker.local:1883", { allowHosts: ["broker.local"], protocols: mqtt, lookup }),
      ),
    ).toBe("ok");
    expect(
      await code(checkUrl("http://broker.local/", { allowHosts: ["broker.local"], protocols: mqtt, lookup })),
    ).toBe("RELAIS_ERR_CONNECTOR_URL_FORBIDDEN");
    expect(await code(checkUrl("http://127.0.0.1/", { allowHosts: [] }))).toBe(
      "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN",
    );
  });
});
