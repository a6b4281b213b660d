import { describe, expect, it } from "vitest";
import type { RelaisError } from "../core/errors.js";
import { checkUrl, forbiddenAddressReason, hostAllowed } from "./url-guard.js";

const lookupTo = (address: string) => async () => [{ address, family: address.includes(":") ? 6 : 4 }];

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as RelaisError).code;
  }
}

describe("URL guard (RELIABILITY.md S11)", () => {
  it("refuses link-local and metadata addresses in every spelling", () => {
    for (const a of [
      "169.254.169.254",
      "169.254.0.1",
      "::ffff:169.254.169.254",
      "[fe80::1]",
      "fd00:ec2::254",
      "0.0.0.0",
      "100.100.100.200",
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
});
