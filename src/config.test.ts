import { describe, expect, it } from "vitest";
import { RelaisError } from "./core/errors.js";
import { loadConfig, redactConfig } from "./config.js";

describe("boot configuration", () => {
  it("uses the documented defaults with no configuration", () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg).toMatchObject({
      databaseUrl: null,
      dataDir: "./.relais",
      httpHost: "127.0.0.1",
      httpPort: 8080,
      xmppService: null,
      logLevel: "info",
    });
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it("layers defaults < file < env < flags", () => {
    const cfg = loadConfig({
      file: { httpPort: 9000, logLevel: "debug" },
      env: { RELAIS_HTTP_PORT: "9100" },
      flags: { httpPort: 9200 },
    });
    expect(cfg.httpPort).toBe(9200);
    expect(cfg.logLevel).toBe("debug");
  });

  it("reports every problem at once with one code", () => {
    let err: unknown;
    try {
      loadConfig({
        env: {
          RELAIS_DATABASE_URL: "mysql://x/y",
          RELAIS_HTTP_PORT: "eighty",
          RELAIS_SECRET_KEY: "c2hvcnQ=",
          RELAIS_LOG_LEVEL: "loud",
        },
        file: { nope: 1 },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RelaisError);
    const e = err as RelaisError;
    expect(e.code).toBe("RELAIS_ERR_CONFIG_INVALID");
    const problems = e.details.problems as string[];
    expect(problems).toHaveLength(5);
    expect(problems.join("\n")).toMatch(/RELAIS_DATABASE_URL/);
    expect(problems.join("\n")).toMatch(/RELAIS_SECRET_KEY/);
    expect(problems.join("\n")).toMatch(/unknown key "nope"/);
  });

  it("accepts a 32-byte base64 key and a postgres URL, and masks secrets", () => {
    const key = Buffer.alloc(32, 7).toString("base64");
    const cfg = loadConfig({
      env: { RELAIS_SECRET_KEY: key, RELAIS_DATABASE_URL: "postgres://u:p@127.0.0.1:5432/test" },
    });
    expect(cfg.secretKey).toBe(key);
    const shown = redactConfig(cfg);
    expect(shown.secretKey).toBe("***");
    expect(shown.databaseUrl).toBe("***");
    expect(JSON.stringify(shown)).not.toContain(key);
  });

  it("requires a domain or JID with an XMPP service", () => {
    expect(() => loadConfig({ env: { RELAIS_XMPP_SERVICE: "xmpp://127.0.0.1:5222" } })).toThrow(RelaisError);
    expect(
      loadConfig({ env: { RELAIS_XMPP_SERVICE: "xmpp://127.0.0.1:5222", RELAIS_XMPP_DOMAIN: "fed.local" } })
        .xmppDomain,
    ).toBe("fed.local");
  });
});
