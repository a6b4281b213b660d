/**
 * Boot configuration: one schema with defaults and descriptions; defaults < file < env < flags;
 * validated once, every problem reported together, then frozen (STYLE.md "Config").
 * Runtime configuration (schedules, local system URLs) lives in the `config` table instead.
 */
import { RelaisError } from "./core/errors.js";

export interface BootConfig {
  databaseUrl: string | null;
  dataDir: string;
  httpHost: string;
  httpPort: number;
  secretKey: string | null;
  xmppService: string | null;
  xmppDomain: string | null;
  xmppJid: string | null;
  xmppPassword: string | null;
  /** Allow plaintext / unverified TLS to an XMPP server outside loopback (RELIABILITY.md S9). */
  xmppAllowInsecure: boolean;
  adminToken: string | null;
  logLevel: string;
}

type Key = keyof BootConfig;

interface Field<K extends Key> {
  env: string;
  description: string;
  default: BootConfig[K];
  parse: (raw: string) => BootConfig[K];
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function str(raw: string): string {
  return raw;
}

function port(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 0 || n > 65535)
    throw new Error(`expected a port number 0-65535, got "${raw}"`);
  return n;
}

function bool(raw: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off|)$/i.test(raw)) return false;
  throw new Error(`expected true or false, got "${raw}"`);
}

function dbUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error("not a URL (expected postgres://user:password@host:port/database)");
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:")
    throw new Error(`expected the postgres:// scheme, got "${u.protocol}"`);
  if (!u.hostname) throw new Error("the URL names no host");
  return raw;
}

function secretKey(raw: string): string {
  const buf = Buffer.from(raw, "base64");
  if (buf.length !== 32 || buf.toString("base64").replace(/=+$/, "") !== raw.replace(/=+$/, ""))
    throw new Error("expected 32 bytes in base64 (openssl rand -base64 32)");
  return raw;
}

function xmppService(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error("not a URL (expected xmpp://host:port or xmpps://host:port)");
  }
  if (u.protocol !== "xmpp:" && u.protocol !== "xmpps:") throw new Error(`expected xmpp:// or xmpps://`);
  return raw;
}

function level(raw: string): string {
  if (!LEVELS.includes(raw)) throw new Error(`expected one of ${LEVELS.join(", ")}`);
  return raw;
}

const nullable =
  <T>(p: (raw: string) => T) =>
  (raw: string): T | null =>
    raw === "" ? null : p(raw);

export const CONFIG_SCHEMA: { [K in Key]: Field<K> } = {
  databaseUrl: {
    env: "RELAIS_DATABASE_URL",
    description: "postgres:// URL of a PostgreSQL server; unset: embedded PGlite in the data dir",
    default: null,
    parse: nullable(dbUrl),
  },
  dataDir: {
    env: "RELAIS_DATA_DIR",
    description: "Directory of the embedded database and the generated key file",
    default: "./.relais",
    parse: str,
  },
  httpHost: {
    env: "RELAIS_HTTP_HOST",
    description: "Address of the northbound HTTP listener",
    default: "127.0.0.1",
    parse: str,
  },
  httpPort: {
    env: "RELAIS_HTTP_PORT",
    description: "Port of the northbound HTTP listener (the demo's beta uses the next one)",
    default: 8080,
    parse: port,
  },
  secretKey: {
    env: "RELAIS_SECRET_KEY",
    description: "32 bytes, base64: encrypts UserApp credentials (required with a server database)",
    default: null,
    parse: nullable(secretKey),
  },
  xmppService: {
    env: "RELAIS_XMPP_SERVICE",
    description: "XMPP server, e.g. xmpp://127.0.0.1:5222; unset: federation offline, Outbox keeps filling",
    default: null,
    parse: nullable(xmppService),
  },
  xmppDomain: {
    env: "RELAIS_XMPP_DOMAIN",
    description: "XMPP domain, e.g. fed.local",
    default: null,
    parse: nullable(str),
  },
  xmppJid: {
    env: "RELAIS_XMPP_JID",
    description: "The gateway's own XMPP account (bare JID)",
    default: null,
    parse: nullable(str),
  },
  xmppPassword: {
    env: "RELAIS_XMPP_PASSWORD",
    description: "Password of the gateway's XMPP account",
    default: null,
    parse: nullable(str),
  },
  xmppAllowInsecure: {
    env: "RELAIS_XMPP_ALLOW_INSECURE",
    description: "Allow XMPP without verified TLS outside loopback (never in production)",
    default: false,
    parse: bool,
  },
  adminToken: {
    env: "RELAIS_ADMIN_TOKEN",
    description: "Bearer token of the bootstrap admin; unset: none",
    default: null,
    parse: nullable(str),
  },
  logLevel: {
    env: "RELAIS_LOG_LEVEL",
    description: "pino log level",
    default: "info",
    parse: level,
  },
};

/** Keys that hold secrets: never printed. */
export const SECRET_KEYS: readonly Key[] = ["secretKey", "xmppPassword", "adminToken", "databaseUrl"];

export interface ConfigSources {
  /** Parsed config file (JSON object keyed like BootConfig, values as strings or native). */
  file?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  /** Command-line flags keyed like BootConfig. */
  flags?: Partial<Record<Key, string | number | boolean | undefined>>;
}

/** Build the boot configuration; throws RELAIS_ERR_CONFIG_INVALID listing every problem. */
export function loadConfig(sources: ConfigSources = {}): Readonly<BootConfig> {
  const env = sources.env ?? {};
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_SCHEMA) as Key[]) {
    const field = CONFIG_SCHEMA[key] as Field<Key>;
    out[key] = field.default;
    const layers: [string, unknown][] = [
      ["config file", sources.file?.[key]],
      [field.env, env[field.env]],
      [`--${kebab(key)}`, sources.flags?.[key]],
    ];
    for (const [origin, raw] of layers) {
      if (raw === undefined) continue;
      try {
        out[key] = field.parse(typeof raw === "string" ? raw : JSON.stringify(raw));
      } catch (e) {
        problems.push(`${origin}: ${(e as Error).message}`);
      }
    }
  }
  if (sources.file) {
    for (const k of Object.keys(sources.file))
      if (!(k in CONFIG_SCHEMA)) problems.push(`config file: unknown key "${k}"`);
  }
  const cfg = out as unknown as BootConfig;
  if (cfg.xmppService && !cfg.xmppDomain && !cfg.xmppJid)
    problems.push("RELAIS_XMPP_SERVICE is set: set RELAIS_XMPP_DOMAIN or RELAIS_XMPP_JID too");
  if (problems.length > 0)
    throw new RelaisError(
      "RELAIS_ERR_CONFIG_INVALID",
      `invalid configuration:\n  - ${problems.join("\n  - ")}`,
      {
        problems,
      },
    );
  return Object.freeze(cfg);
}

/** The configuration with secrets masked, for logs and `relais config`. */
export function redactConfig(cfg: BootConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cfg };
  for (const k of SECRET_KEYS) if (out[k] != null) out[k] = "***";
  return out;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
