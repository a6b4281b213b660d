/**
 * Connector configuration: one JSON document per connector instance in the `config` table
 * (kind, name, options, mapping, schedule, commands). Validated at the edge by hand so that every
 * problem is reported together, each with the JSON-pointer path of the offending member
 * (RELAIS_ERR_CONNECTOR_CONFIG_INVALID, details.problems). docs/connectors.md documents it.
 */
import { Cron } from "croner";
import { RelaisError } from "../core/errors.js";
import type { ResourceKind } from "../core/ports.js";
import {
  compileMapping,
  RESOURCE_KINDS,
  VALUE_TYPES,
  type CompiledMapping,
  type MappingEntry,
  type Problem,
  type ValueType,
} from "./mapping.js";

export type CommandMethod = "SET" | "ACT";

export interface AuthConfig {
  scheme: "basic" | "bearer" | "apiKey";
  /** Header that carries the API key (scheme apiKey), default X-API-Key. */
  header?: string;
  /** Reference resolved by the CredentialsResolver (e.g. a UserApp id): secrets never sit in config. */
  credentials: string;
}

export type Schedule = { everyMs: number } | { cron: string };

/** An ACTION parameter (the gateway validates ACT parameters against these). */
export interface ActionParameterConfig {
  name: string;
  type: ValueType;
  optional?: boolean;
}

/** What every command declares in the model: a PROPERTY (SET) or an ACTION (ACT) owned by the connectors. */
export interface CommandDeclarationConfig {
  target: string;
  on: CommandMethod;
  /** SET: the PROPERTY's value type (default float). */
  type: ValueType;
  /** ACT: the action's parameters (default none). */
  parameters: ActionParameterConfig[];
}

export interface HttpCommandConfig extends CommandDeclarationConfig {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** URL template: {value}, {provider}, {service}, {resource}, {param.NAME} (URL-encoded). */
  url: string;
  headers?: Record<string, string>;
  /** JSON body template; a string leaf that is exactly "{value}" / "{param.X}" keeps the raw value. */
  body?: unknown;
}

export interface HttpConnectorConfig {
  kind: "http";
  name: string;
  enabled: boolean;
  /** The account the connector writes as (bound by the composition root); default: the connector account. */
  runAs?: string;
  options: {
    url: string;
    method: "GET" | "POST";
    headers: Record<string, string>;
    body?: unknown;
    allowHosts: string[];
    auth?: AuthConfig;
    timeoutMs: number;
    retries: number;
    backoffMs: number;
    maxBackoffMs: number;
    /** Send If-None-Match with the last ETag; 304 → no update. */
    conditional: boolean;
    maxBodyBytes: number;
  };
  schedule: Schedule;
  mapping: MappingEntry[];
  commands: HttpCommandConfig[];
}

export type MqttFormat = "plain" | "json" | "senml";

export interface MqttSubscriptionConfig {
  /** Topic filter with + and # wildcards. */
  topic: string;
  format: MqttFormat;
  /** plain: target template ({1}, {#}, {topic}). */
  target?: string;
  type?: ValueType;
  kind?: ResourceKind;
  unit?: string;
  /** json: mapping entries applied to the parsed payload. */
  values?: MappingEntry[];
  /** senml: prepended to each record's name (template), e.g. "{1}/". */
  prefix?: string;
}

export interface MqttCommandConfig extends CommandDeclarationConfig {
  /** Topic template: {provider}, {service}, {resource}, {param.NAME}. */
  topic: string;
  /** Payload template: JSON value like an HTTP body; absent → the value (SET) or parameters (ACT) as JSON. */
  payload?: unknown;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export interface MqttConnectorConfig {
  kind: "mqtt";
  name: string;
  enabled: boolean;
  runAs?: string;
  options: {
    url: string;
    /** Stable client id for the persistent session; default relais-<name>. */
    clientId: string;
    clean: boolean;
    qos: 0 | 1 | 2;
    keepaliveS: number;
    reconnectPeriodMs: number;
    connectTimeoutMs: number;
    allowHosts: string[];
    auth?: { credentials: string };
    maxPayloadBytes: number;
  };
  mapping: MqttSubscriptionConfig[];
  commands: MqttCommandConfig[];
}

export type ConnectorConfig = HttpConnectorConfig | MqttConnectorConfig;

// ---------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

class Checker {
  readonly problems: Problem[] = [];
  add(path: string, message: string): void {
    this.problems.push({ path, message });
  }
  obj(v: unknown, path: string): Obj | null {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      this.add(path, "expected an object");
      return null;
    }
    return v as Obj;
  }
  keys(o: Obj, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.add(`${path}/${k}`, "unknown key");
  }
  str(o: Obj, key: string, path: string, opts: { required?: boolean; pattern?: RegExp; def?: string } = {}) {
    const v = o[key];
    if (v === undefined) {
      if (opts.required) this.add(`${path}/${key}`, "required");
      return opts.def;
    }
    if (typeof v !== "string" || v.length === 0) {
      this.add(`${path}/${key}`, "expected a non-empty string");
      return opts.def;
    }
    if (opts.pattern && !opts.pattern.test(v))
      this.add(`${path}/${key}`, `must match ${String(opts.pattern)}`);
    return v;
  }
  int(o: Obj, key: string, path: string, def: number, min: number, max: number): number {
    const v = o[key];
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.add(`${path}/${key}`, `expected an integer in [${min}, ${max}]`);
      return def;
    }
    return v;
  }
  bool(o: Obj, key: string, path: string, def: boolean): boolean {
    const v = o[key];
    if (v === undefined) return def;
    if (typeof v !== "boolean") {
      this.add(`${path}/${key}`, "expected true or false");
      return def;
    }
    return v;
  }
  oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[], def?: T): T | undefined {
    const v = o[key];
    if (v === undefined) {
      if (def === undefined) this.add(`${path}/${key}`, `required: one of ${values.join(", ")}`);
      return def;
    }
    if (!values.includes(v as T)) {
      this.add(`${path}/${key}`, `expected one of ${values.join(", ")}`);
      return def;
    }
    return v as T;
  }
  strings(o: Obj, key: string, path: string, required: boolean): string[] {
    const v = o[key];
    if (v === undefined) {
      if (required) this.add(`${path}/${key}`, "required: a non-empty array of strings");
      return [];
    }
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== "string" || s.length === 0)) {
      this.add(`${path}/${key}`, "expected a non-empty array of non-empty strings");
      return [];
    }
    return v as string[];
  }
  headers(o: Obj, key: string, path: string): Record<string, string> {
    const v = o[key];
    if (v === undefined) return {};
    const h = this.obj(v, `${path}/${key}`);
    if (!h) return {};
    for (const [k, val] of Object.entries(h)) {
      if (typeof val !== "string") this.add(`${path}/${key}/${k}`, "expected a string");
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k))
        this.add(`${path}/${key}/${k}`, "not a valid header name");
    }
    return h as Record<string, string>;
  }
  target(o: Obj, key: string, path: string, required: boolean): string | undefined {
    const t = this.str(o, key, path, { required });
    if (t !== undefined && (t.split("/").length !== 3 || t.split("/").some((s) => s.length === 0)))
      this.add(`${path}/${key}`, `"${t}" is not "provider/service/resource"`);
    return t;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkDeclaration(c: Checker, x: Obj, p: string): CommandDeclarationConfig {
  const on = c.oneOf(x, "on", p, ["SET", "ACT"] as const) ?? "SET";
  const parameters: ActionParameterConfig[] = [];
  if (x.parameters !== undefined) {
    if (on !== "ACT") c.add(`${p}/parameters`, "only for ACT commands");
    if (!Array.isArray(x.parameters))
      c.add(`${p}/parameters`, "expected an array of {name, type, optional?}");
    else
      x.parameters.forEach((raw, j) => {
        const q = `${p}/parameters/${j}`;
        const o = c.obj(raw, q);
        if (!o) return;
        c.keys(o, q, ["name", "type", "optional"]);
        const param: ActionParameterConfig = {
          name: c.str(o, "name", q, { required: true, pattern: /^[A-Za-z_][A-Za-z0-9_.-]*$/ }) ?? "",
          type: c.oneOf(o, "type", q, VALUE_TYPES, "float") ?? "float",
        };
        if (o.optional !== undefined) param.optional = c.bool(o, "optional", q, false);
        parameters.push(param);
      });
  }
  if (x.type !== undefined && on !== "SET")
    c.add(`${p}/type`, "only for SET commands (the property's value type)");
  return {
    target: c.target(x, "target", p, true) ?? "",
    on,
    type: c.oneOf(x, "type", p, VALUE_TYPES, "float") ?? "float",
    parameters,
  };
}
const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

function checkUrl(c: Checker, url: string | undefined, path: string, schemes: readonly string[]): void {
  if (url === undefined) return;
  // Templates may hold {placeholders}; check the shape with them replaced by a harmless token.
  let u: URL;
  try {
    u = new URL(url.replace(/\{[^{}]+\}/g, "x"));
  } catch {
    c.add(path, "not a valid URL");
    return;
  }
  if (!schemes.includes(u.protocol)) c.add(path, `expected a ${schemes.join(" or ")} URL`);
  if (u.username || u.password) c.add(path, "credentials in the URL are refused; use auth");
}

function checkAuth(c: Checker, o: Obj, path: string, schemes: boolean): AuthConfig | undefined {
  if (o.auth === undefined) return undefined;
  const a = c.obj(o.auth, `${path}/auth`);
  if (!a) return undefined;
  c.keys(a, `${path}/auth`, schemes ? ["scheme", "header", "credentials"] : ["credentials"]);
  const credentials = c.str(a, "credentials", `${path}/auth`, { required: true }) ?? "";
  if (!schemes) return { scheme: "basic", credentials };
  const scheme = c.oneOf(a, "scheme", `${path}/auth`, ["basic", "bearer", "apiKey"] as const) ?? "basic";
  const header = c.str(a, "header", `${path}/auth`);
  const out: AuthConfig = { scheme, credentials };
  if (header !== undefined) out.header = header;
  return out;
}

function checkMapping(c: Checker, v: unknown, path: string): void {
  const r = compileMapping(v, path);
  c.problems.push(...r.problems);
}

function parseHttp(c: Checker, doc: Obj): HttpConnectorConfig {
  const o = c.obj(doc.options, "/options") ?? {};
  c.keys(o, "/options", [
    "url",
    "method",
    "headers",
    "body",
    "allowHosts",
    "auth",
    "timeoutMs",
    "retries",
    "backoffMs",
    "maxBackoffMs",
    "conditional",
    "maxBodyBytes",
  ]);
  const url = c.str(o, "url", "/options", { required: true }) ?? "";
  checkUrl(c, url, "/options/url", ["http:", "https:"]);
  const options: HttpConnectorConfig["options"] = {
    url,
    method: c.oneOf(o, "method", "/options", ["GET", "POST"] as const, "GET") ?? "GET",
    headers: c.headers(o, "headers", "/options"),
    allowHosts: c.strings(o, "allowHosts", "/options", true),
    timeoutMs: c.int(o, "timeoutMs", "/options", 5_000, 50, 300_000),
    retries: c.int(o, "retries", "/options", 2, 0, 10),
    backoffMs: c.int(o, "backoffMs", "/options", 500, 1, 600_000),
    maxBackoffMs: c.int(o, "maxBackoffMs", "/options", 60_000, 1, 3_600_000),
    conditional: c.bool(o, "conditional", "/options", true),
    maxBodyBytes: c.int(o, "maxBodyBytes", "/options", 10 * 1024 * 1024, 1, 256 * 1024 * 1024),
  };
  if (o.body !== undefined) options.body = o.body;
  const auth = checkAuth(c, o, "/options", true);
  if (auth) options.auth = auth;

  let schedule: Schedule = { everyMs: 60_000 };
  const s = c.obj(doc.schedule, "/schedule");
  if (s) {
    c.keys(s, "/schedule", ["everyMs", "cron"]);
    if ((s.everyMs === undefined) === (s.cron === undefined))
      c.add("/schedule", "give exactly one of everyMs or cron");
    else if (s.everyMs !== undefined)
      schedule = { everyMs: c.int(s, "everyMs", "/schedule", 60_000, 10, 86_400_000) };
    else {
      const cron = c.str(s, "cron", "/schedule", { required: true });
      if (cron !== undefined) {
        try {
          new Cron(cron, { paused: true }).stop();
          schedule = { cron };
        } catch (e) {
          c.add("/schedule/cron", `not a cron pattern: ${(e as Error).message}`);
        }
      }
    }
  }
  checkMapping(c, doc.mapping, "/mapping");

  const commands: HttpCommandConfig[] = [];
  if (doc.commands !== undefined) {
    if (!Array.isArray(doc.commands)) c.add("/commands", "expected an array");
    else
      doc.commands.forEach((raw, i) => {
        const p = `/commands/${i}`;
        const x = c.obj(raw, p);
        if (!x) return;
        c.keys(x, p, ["target", "on", "type", "parameters", "method", "url", "headers", "body"]);
        const cmdUrl = c.str(x, "url", p, { required: true });
        checkUrl(c, cmdUrl, `${p}/url`, ["http:", "https:"]);
        const cmd: HttpCommandConfig = {
          ...checkDeclaration(c, x, p),
          method: c.oneOf(x, "method", p, HTTP_METHODS, "POST") ?? "POST",
          url: cmdUrl ?? "",
          headers: c.headers(x, "headers", p),
        };
        if (x.body !== undefined) cmd.body = x.body;
        commands.push(cmd);
      });
  }
  return {
    kind: "http",
    name: String(doc.name),
    enabled: c.bool(doc, "enabled", "", true),
    ...(typeof doc.runAs === "string" ? { runAs: doc.runAs } : {}),
    options,
    schedule,
    mapping: doc.mapping as MappingEntry[],
    commands,
  };
}

/** MQTT topic filter rules (MQTT 3.1.1 §4.7): `#` only last and alone in its level, `+` alone. */
export function topicFilterProblem(filter: string): string | null {
  if (filter.length === 0) return "empty topic filter";
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1)) return "# must be the last level, alone";
    if (l.includes("+") && l !== "+") return "+ must occupy a whole level";
  }
  return null;
}

function parseMqtt(c: Checker, doc: Obj): MqttConnectorConfig {
  const o = c.obj(doc.options, "/options") ?? {};
  c.keys(o, "/options", [
    "url",
    "clientId",
    "clean",
    "qos",
    "keepaliveS",
    "reconnectPeriodMs",
    "connectTimeoutMs",
    "allowHosts",
    "auth",
    "maxPayloadBytes",
  ]);
  const url = c.str(o, "url", "/options", { required: true }) ?? "";
  checkUrl(c, url, "/options/url", ["mqtt:", "mqtts:", "ws:", "wss:"]);
  const qos = c.int(o, "qos", "/options", 1, 0, 2) as 0 | 1 | 2;
  const options: MqttConnectorConfig["options"] = {
    url,
    clientId:
      c.str(o, "clientId", "/options", { pattern: /^[A-Za-z0-9_.:-]{1,64}$/ }) ??
      `relais-${String(doc.name)}`.slice(0, 64),
    clean: c.bool(o, "clean", "/options", false),
    qos,
    keepaliveS: c.int(o, "keepaliveS", "/options", 30, 0, 65_535),
    reconnectPeriodMs: c.int(o, "reconnectPeriodMs", "/options", 2_000, 100, 600_000),
    connectTimeoutMs: c.int(o, "connectTimeoutMs", "/options", 10_000, 100, 600_000),
    allowHosts: c.strings(o, "allowHosts", "/options", true),
    maxPayloadBytes: c.int(o, "maxPayloadBytes", "/options", 1024 * 1024, 1, 256 * 1024 * 1024),
  };
  const auth = checkAuth(c, o, "/options", false);
  if (auth) options.auth = { credentials: auth.credentials };

  const mapping: MqttSubscriptionConfig[] = [];
  if (!Array.isArray(doc.mapping) || doc.mapping.length === 0)
    c.add("/mapping", "expected a non-empty array of topic subscriptions");
  else
    doc.mapping.forEach((raw, i) => {
      const p = `/mapping/${i}`;
      const x = c.obj(raw, p);
      if (!x) return;
      c.keys(x, p, ["topic", "format", "target", "type", "kind", "unit", "values", "prefix"]);
      const topic = c.str(x, "topic", p, { required: true }) ?? "#";
      const tp = topicFilterProblem(topic);
      if (tp) c.add(`${p}/topic`, tp);
      const format = c.oneOf(x, "format", p, ["plain", "json", "senml"] as const, "plain") ?? "plain";
      const sub: MqttSubscriptionConfig = { topic, format };
      // An unknown format was reported above; its other members cannot be judged.
      if (x.format !== undefined && x.format !== format) return;
      if (format === "plain") {
        // Reuse the mapping compiler for target templates and types: a plain payload is a pointer "".
        const entry: Obj = { target: x.target, pointer: "" };
        for (const k of ["type", "kind", "unit"]) if (x[k] !== undefined) entry[k] = x[k];
        const r = compileMapping([entry], p);
        c.problems.push(...r.problems.map((q) => ({ ...q, path: q.path.replace(`${p}/0`, p) })));
        if (typeof x.target === "string") sub.target = x.target;
        if (x.values !== undefined) c.add(`${p}/values`, "only for format json");
      } else if (format === "json") {
        checkMapping(c, x.values, `${p}/values`);
        sub.values = x.values as MappingEntry[];
        if (x.target !== undefined) c.add(`${p}/target`, "for format json, give targets in values");
      } else {
        const prefix = c.str(x, "prefix", p);
        if (prefix !== undefined) sub.prefix = prefix;
        if (x.values !== undefined || x.target !== undefined)
          c.add(p, "for format senml, names come from the records (bn + n); use prefix");
      }
      if (x.type !== undefined) {
        const t = c.oneOf(x, "type", p, VALUE_TYPES);
        if (t) sub.type = t;
      }
      if (x.kind !== undefined) {
        const k = c.oneOf(x, "kind", p, RESOURCE_KINDS);
        if (k) sub.kind = k;
      }
      if (typeof x.unit === "string") sub.unit = x.unit;
      mapping.push(sub);
    });

  const commands: MqttCommandConfig[] = [];
  if (doc.commands !== undefined) {
    if (!Array.isArray(doc.commands)) c.add("/commands", "expected an array");
    else
      doc.commands.forEach((raw, i) => {
        const p = `/commands/${i}`;
        const x = c.obj(raw, p);
        if (!x) return;
        c.keys(x, p, ["target", "on", "type", "parameters", "topic", "payload", "qos", "retain"]);
        const topic = c.str(x, "topic", p, { required: true }) ?? "";
        if (/[+#]/.test(topic)) c.add(`${p}/topic`, "a command topic cannot hold wildcards");
        const cmd: MqttCommandConfig = {
          ...checkDeclaration(c, x, p),
          topic,
          qos: c.int(x, "qos", p, qos, 0, 2) as 0 | 1 | 2,
          retain: c.bool(x, "retain", p, false),
        };
        if (x.payload !== undefined) cmd.payload = x.payload;
        commands.push(cmd);
      });
  }
  return {
    kind: "mqtt",
    name: String(doc.name),
    enabled: c.bool(doc, "enabled", "", true),
    ...(typeof doc.runAs === "string" ? { runAs: doc.runAs } : {}),
    options,
    mapping,
    commands,
  };
}

/**
 * Validates one connector document. Throws RELAIS_ERR_CONNECTOR_CONFIG_INVALID with
 * details.problems = [{path, message}] listing every problem found.
 */
export function parseConnectorConfig(raw: unknown): ConnectorConfig {
  const c = new Checker();
  const doc = c.obj(raw, "");
  if (!doc) throw invalid(c.problems, undefined);
  const kind = c.oneOf(doc, "kind", "", ["http", "mqtt"] as const);
  c.str(doc, "name", "", { required: true, pattern: NAME });
  if (doc.runAs !== undefined && (typeof doc.runAs !== "string" || doc.runAs.length === 0))
    c.add("/runAs", "expected an account name");
  const common = ["kind", "name", "enabled", "runAs", "options", "mapping", "commands"];
  let cfg: ConnectorConfig | null = null;
  if (kind === "http") {
    c.keys(doc, "", [...common, "schedule"]);
    cfg = parseHttp(c, doc);
  } else if (kind === "mqtt") {
    c.keys(doc, "", common);
    cfg = parseMqtt(c, doc);
  }
  if (c.problems.length > 0 || !cfg) throw invalid(c.problems, doc.name);
  return cfg;
}

function invalid(problems: Problem[], name: unknown): RelaisError {
  const list = problems.map((p) => `${p.path || "/"}: ${p.message}`).join("; ");
  return new RelaisError(
    "RELAIS_ERR_CONNECTOR_CONFIG_INVALID",
    `connector ${typeof name === "string" ? `"${name}" ` : ""}configuration is invalid: ${list}`,
    {
      ...(typeof name === "string" ? { connector: name } : {}),
      problems,
    },
  );
}

/** Compiles a mapping already validated by parseConnectorConfig. */
export function mustCompile(entries: unknown, path: string): CompiledMapping {
  const r = compileMapping(entries, path);
  if (!r.mapping) throw invalid(r.problems, undefined);
  return r.mapping;
}

/** The resources a connector's commands need in the model (declared when it starts). */
export function commandDeclarations(cfg: ConnectorConfig): CommandDeclarationConfig[] {
  return cfg.commands.map((c) => ({ target: c.target, on: c.on, type: c.type, parameters: c.parameters }));
}
