import { describe, expect, it } from "vitest";
import { UrlGuard } from "./url-guard.js";

const refused = async (g: UrlGuard, url: string) => {
  await expect(g.check(url)).rejects.toMatchObject({ code: "RELAIS_ERR_HTTP_CALLBACK_REFUSED" });
};

describe("UrlGuard", () => {
  const resolveTo = (map: Record<string, string[]>) => async (host: string) =>
    (map[host] ?? []).map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

  it("refuses metadata, link-local, loopback and private addresses by default", async () => {
    const g = new UrlGuard({ resolve: resolveTo({}) });
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
    ])
      await refused(g, u);
  });
  it("checks every resolved address of a host name", async () => {
    const g = new UrlGuard({
      resolve: resolveTo({ "mixed.example": ["93.184.216.34", "10.1.2.3"], "ok.example": ["93.184.216.34"] }),
    });
    await refused(g, "http://mixed.example/hook");
    await expect(g.check("https://ok.example/hook")).resolves.toBeInstanceOf(URL);
    await refused(g, "http://unresolvable.example/");
  });
  it("refuses other schemes and credentials in the URL", async () => {
    const g = new UrlGuard({ resolve: resolveTo({ "ok.example": ["93.184.216.34"] }) });
    await refused(g, "file:///etc/passwd");
    await refused(g, "gopher://ok.example/");
    await refused(g, "http://user:pw@ok.example/");
    await refused(g, "not a url");
  });
  it("allowNetworks opens private ranges but never link-local", async () => {
    const g = new UrlGuard({ allowNetworks: ["127.0.0.0/8", "169.254.0.0/16"], resolve: resolveTo({}) });
    await expect(g.check("http://127.0.0.1:9/")).resolves.toBeInstanceOf(URL);
    await refused(g, "http://169.254.169.254/");
    await refused(g, "http://10.0.0.1/");
  });
  it("allowHosts restricts the host names", async () => {
    const g = new UrlGuard({
      allowHosts: ["*.partner.example"],
      resolve: resolveTo({ "a.partner.example": ["93.184.216.34"], "evil.example": ["93.184.216.34"] }),
    });
    await expect(g.check("https://a.partner.example/")).resolves.toBeInstanceOf(URL);
    await refused(g, "https://evil.example/");
    await refused(g, "https://partner.example.evil.example/");
  });
  it("the connect-time lookup refuses a host that now resolves inside", async () => {
    const g = new UrlGuard({ resolve: resolveTo({ "rebind.example": ["127.0.0.1"] }) });
    const err = await new Promise<Error | null>((resolve) => {
      g.lookup("rebind.example", {}, (e) => {
        resolve(e);
      });
    });
    expect(err).toMatchObject({ code: "RELAIS_ERR_HTTP_CALLBACK_REFUSED" });
  });
});
