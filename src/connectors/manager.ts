/**
 * ConnectorManager: runs the connectors described in the `config` table and keeps them in step
 * with it without a restart. reload() diffs the documents by connector name: new → started,
 * removed or disabled → stopped, changed (canonical JSON differs) → stopped then started with the
 * new document, unchanged → left alone. An invalid document never stops the others: it is
 * reported (state "down", RELAIS_ERR_CONNECTOR_CONFIG_INVALID with every problem's path).
 *
 * status() and counters() feed /health/ready and /metrics; dispatch() routes a SET/ACT to the
 * connector that has a command for the resource.
 */
import { RelaisError, isRelaisError } from "../core/errors.js";
import type { Clock, Lifecycle, Logger } from "../core/ports.js";
import {
  commandDeclarations,
  parseConnectorConfig,
  type CommandDeclarationConfig,
  type ConnectorConfig,
} from "./config.js";
import { HttpConnector } from "./http/http-connector.js";
import { MqttConnector } from "./mqtt/mqtt-connector.js";
import type {
  Connector,
  ConnectorCommand,
  ConnectorConfigSource,
  ConnectorContext,
  ConnectorStatus,
  CredentialsResolver,
  LookupFn,
  ModelSink,
} from "./ports.js";
import type { SenmlDecode } from "./senml-records.js";

export type ConnectorFactory = (cfg: ConnectorConfig, ctx: ConnectorContext) => Connector;

export interface ConnectorManagerOptions {
  /** The `config` table (see configStoreSource); without it only apply() feeds the manager. */
  source?: ConnectorConfigSource;
  /** The data-first use case bound to the account a connector writes as (config `runAs`). */
  sinkFor(runAs: string | undefined, connector: string): ModelSink;
  logger: Logger;
  clock: Clock;
  credentials?: CredentialsResolver;
  /** SenML decoder for MQTT `senml` topics (defaultSenmlDecode from ./senml-codec.js). */
  senml?: SenmlDecode;
  lookup?: LookupFn;
  /** Declares the PROPERTY/ACTION resources of a connector's commands before it starts (GatewayBridge). */
  declareCommands?(connector: string, decls: readonly CommandDeclarationConfig[]): void;
  /** Override or add connector kinds (tests, future kinds). */
  factories?: Record<string, ConnectorFactory>;
}

export interface ReloadReport {
  started: string[];
  stopped: string[];
  restarted: string[];
  unchanged: string[];
  invalid: { name: string | null; index: number; problems: unknown }[];
}

interface Entry {
  fingerprint: string;
  config: ConnectorConfig | null;
  connector: Connector | null;
  /** Set when the document is invalid or the connector could not be built. */
  error: { code: string; message: string; at: number; kind: string } | null;
}

/** JSON with sorted keys, so that key order in the stored document is not a change. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

export class ConnectorManager implements Lifecycle {
  private readonly entries = new Map<string, Entry>();
  private running = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Consecutive failed loads of the configuration source (0 once loaded). */
  private loadFailures = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly factories: Record<string, ConnectorFactory>;

  constructor(private readonly o: ConnectorManagerOptions) {
    this.factories = {
      http: (cfg, ctx) => new HttpConnector(cfg as Extract<ConnectorConfig, { kind: "http" }>, ctx),
      mqtt: (cfg, ctx) =>
        new MqttConnector(
          cfg as Extract<ConnectorConfig, { kind: "mqtt" }>,
          ctx,
          o.senml ? { senml: o.senml } : {},
        ),
      ...o.factories,
    };
  }

  /** Loads the documents from the source and starts the connectors. Idempotent. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.o.source) await this.loadWithRetry(1);
    else
      await this.serial(() =>
        Promise.all(
          [...this.entries.entries()]
            .filter(([, e]) => e.connector && e.config?.enabled)
            .map(([name, e]) => this.startEntry(name, e)),
        ),
      );
  }

  /**
   * The config table may be unreachable at start (RELIABILITY R6: PostgreSQL down): start() must
   * not fail the gateway for it. The first load is retried with backoff (1 s … 30 s) until it works.
   */
  private async loadWithRetry(attempt: number): Promise<void> {
    try {
      await this.reload();
      this.loadFailures = 0;
    } catch {
      // reload() logged the cause.
      this.loadFailures = attempt;
      if (!this.running) return;
      const delay = Math.min(30_000, 1_000 * 2 ** (attempt - 1));
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (this.running) void this.loadWithRetry(attempt + 1);
      }, delay).unref();
    }
  }

  /** Stops every connector (their state is kept for status()). Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.serial(async () => {
      await Promise.all([...this.entries.values()].map((e) => this.stopEntry(e)));
    });
  }

  /** Re-reads the source and applies the difference. Safe to call concurrently (serialised). */
  async reload(): Promise<ReloadReport> {
    if (!this.o.source) return this.apply([]);
    let docs: unknown[];
    try {
      docs = await this.o.source.list();
    } catch (e) {
      this.o.logger.error(
        { code: isRelaisError(e) ? e.code : "RELAIS_ERR_INTERNAL_BUG", err: e },
        "cannot read connector configuration",
      );
      throw e;
    }
    return this.apply(docs);
  }

  /**
   * Re-reads the source every `intervalMs` (e.g. 30 s) so that `relais config set connector.…`
   * takes effect without a restart even when nothing calls reload(). Returns the cancel function.
   */
  watch(intervalMs: number): () => void {
    const t = setInterval(() => {
      if (!this.running) return;
      this.reload().catch(() => undefined); // reload() logged it; the next round retries
    }, intervalMs).unref();
    return () => {
      clearInterval(t);
    };
  }

  /** Applies a full set of connector documents (the desired state). */
  apply(docs: readonly unknown[]): Promise<ReloadReport> {
    return this.serial(() => this.applyNow(docs));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(docs: readonly unknown[]): Promise<ReloadReport> {
    const report: ReloadReport = { started: [], stopped: [], restarted: [], unchanged: [], invalid: [] };
    const desired = new Map<
      string,
      { fingerprint: string; config: ConnectorConfig | null; error: RelaisError | null; kind: string }
    >();
    const claimed = new Map<string, string>();
    docs.forEach((doc, index) => {
      const rawName = nameOf(doc);
      let config: ConnectorConfig | null = null;
      let error: RelaisError | null = null;
      try {
        config = parseConnectorConfig(doc);
      } catch (e) {
        error = isRelaisError(e) ? e : new RelaisError("RELAIS_ERR_CONNECTOR_CONFIG_INVALID", String(e));
      }
      const name = config?.name ?? rawName ?? `#${index}`;
      if (desired.has(name)) {
        error = new RelaisError("RELAIS_ERR_CONNECTOR_CONFIG_INVALID", `duplicate connector name "${name}"`, {
          problems: [{ path: "/name", message: "another connector has this name" }],
        });
        config = null;
      }
      // A SET/ACT must route to one connector: a command already claimed by an earlier document
      // makes this one invalid (documents come in key order, so the outcome is stable).
      if (config && !error) {
        const clashes = config.commands
          .map((c, i) => ({ i, key: `${c.on} ${c.target}`, owner: claimed.get(`${c.on} ${c.target}`) }))
          .filter((x) => x.owner !== undefined);
        if (clashes.length > 0) {
          const problems = clashes.map((x) => ({
            path: `/commands/${x.i}/target`,
            message: `${x.key} is already a command of connector "${x.owner!}"`,
          }));
          error = new RelaisError(
            "RELAIS_ERR_CONNECTOR_CONFIG_INVALID",
            `connector "${name}": ${problems.map((q) => `${q.path}: ${q.message}`).join("; ")}`,
            { connector: name, problems },
          );
          config = null;
        } else for (const c of config.commands) claimed.set(`${c.on} ${c.target}`, name);
      }
      if (error) {
        report.invalid.push({ name: rawName, index, problems: error.details.problems ?? error.message });
        this.o.logger.error(
          { code: error.code, connector: name, problems: error.details.problems },
          error.message,
        );
      }
      const kind = config?.kind ?? kindOf(doc);
      desired.set(name, { fingerprint: canonicalJson(doc), config, error, kind });
    });

    // Removed → stop and forget.
    for (const [name, e] of this.entries) {
      if (desired.has(name)) continue;
      await this.stopEntry(e);
      this.entries.delete(name);
      report.stopped.push(name);
    }
    const starts: Promise<void>[] = [];
    for (const [name, d] of desired) {
      const cur = this.entries.get(name);
      if (cur && cur.fingerprint === d.fingerprint) {
        // Unchanged; restart only if the manager was stopped and is running again.
        if (
          this.running &&
          cur.connector &&
          cur.config?.enabled &&
          cur.connector.status().state === "stopped"
        )
          starts.push(this.startEntry(name, cur));
        report.unchanged.push(name);
        continue;
      }
      if (cur) {
        await this.stopEntry(cur);
        report.restarted.push(name);
      } else report.started.push(name);
      const entry: Entry = { fingerprint: d.fingerprint, config: d.config, connector: null, error: null };
      if (d.error)
        entry.error = { code: d.error.code, message: d.error.message, at: this.o.clock.now(), kind: d.kind };
      else if (d.config) {
        try {
          entry.connector = this.build(d.config);
        } catch (e) {
          const err = isRelaisError(e)
            ? e
            : new RelaisError("RELAIS_ERR_INTERNAL_BUG", String(e), {}, { cause: e });
          entry.error = { code: err.code, message: err.message, at: this.o.clock.now(), kind: d.kind };
          this.o.logger.error({ code: err.code, connector: name }, err.message);
        }
      }
      this.entries.set(name, entry);
      if (this.running && entry.connector && d.config?.enabled) starts.push(this.startEntry(name, entry));
    }
    await Promise.all(starts);
    if (report.started.length + report.stopped.length + report.restarted.length > 0)
      this.o.logger.info(
        {
          started: report.started,
          stopped: report.stopped,
          restarted: report.restarted,
          invalid: report.invalid.length,
        },
        "connectors reloaded",
      );
    return report;
  }

  private build(cfg: ConnectorConfig): Connector {
    const factory = this.factories[cfg.kind];
    if (!factory)
      throw new RelaisError("RELAIS_ERR_CONNECTOR_CONFIG_INVALID", `unknown connector kind ${cfg.kind}`);
    const ctx: ConnectorContext = {
      sink: this.o.sinkFor(cfg.runAs, cfg.name),
      logger: this.o.logger.child({ connector: cfg.name, kind: cfg.kind }),
      clock: this.o.clock,
      ...(this.o.credentials ? { credentials: this.o.credentials } : {}),
      ...(this.o.lookup ? { lookup: this.o.lookup } : {}),
    };
    const connector = factory(cfg, ctx);
    const decls = commandDeclarations(cfg);
    if (decls.length > 0 && this.o.declareCommands) {
      try {
        this.o.declareCommands(cfg.name, decls);
      } catch (e) {
        // The connector still runs (its data flows); its commands may not be reachable.
        this.o.logger.error(
          { code: isRelaisError(e) ? e.code : "RELAIS_ERR_INTERNAL_BUG", connector: cfg.name, err: e },
          "cannot declare the connector's command resources",
        );
      }
    }
    return connector;
  }

  private async startEntry(name: string, e: Entry): Promise<void> {
    try {
      await e.connector?.start();
    } catch (err) {
      // Connectors record their own start-up problems; this is the last line of defence.
      const code = isRelaisError(err) ? err.code : "RELAIS_ERR_INTERNAL_BUG";
      e.error = {
        code,
        message: (err as Error).message,
        at: this.o.clock.now(),
        kind: e.config?.kind ?? "?",
      };
      this.o.logger.error({ code, connector: name, err }, "connector failed to start");
    }
  }

  private async stopEntry(e: Entry): Promise<void> {
    try {
      await e.connector?.stop();
    } catch (err) {
      this.o.logger.warn({ code: "RELAIS_ERR_INTERNAL_BUG", err }, "connector failed to stop cleanly");
    }
  }

  /** One entry per configured connector, sorted by name. */
  status(): ConnectorStatus[] {
    return [...this.entries.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, e]) => {
        if (e.error && (!e.connector || e.connector.status().state === "stopped"))
          return {
            name,
            kind: e.error.kind,
            state: "down" as const,
            lastError: { code: e.error.code, message: e.error.message, at: e.error.at },
            counters: e.connector?.status().counters ?? {},
            lastSuccessAt: null,
          };
        if (!e.connector)
          return {
            name,
            kind: e.config?.kind ?? "?",
            state: "stopped" as const,
            lastError: null,
            counters: {},
            lastSuccessAt: null,
          };
        return e.connector.status();
      });
  }

  /**
   * Readiness summary for /health/ready: `ready` is false when an enabled connector is down.
   * The HTTP layer decides whether that makes the gateway unready (it is informative by default).
   */
  health(): {
    ready: boolean;
    connectors: { name: string; kind: string; state: string; lastError: string | null }[];
  } {
    const list = this.status().map((s) => ({
      name: s.name,
      kind: s.kind,
      state: s.state,
      lastError: s.lastError?.code ?? null,
    }));
    const enabled = new Set(
      [...this.entries.entries()].filter(([, e]) => e.config?.enabled !== false).map(([n]) => n),
    );
    return {
      ready: this.loadFailures === 0 && list.every((c) => !enabled.has(c.name) || c.state !== "down"),
      connectors: list,
    };
  }

  /** Flat counters for /metrics: relais_connector_<counter>_total{connector,kind}. */
  counters(): { connector: string; kind: string; counter: string; value: number }[] {
    return this.status().flatMap((s) =>
      Object.entries(s.counters).map(([counter, value]) => ({
        connector: s.name,
        kind: s.kind,
        counter,
        value,
      })),
    );
  }

  get(name: string): Connector | undefined {
    return this.entries.get(name)?.connector ?? undefined;
  }

  /** Whether some connector has a command for this SET/ACT. */
  handles(c: Pick<ConnectorCommand, "method" | "provider" | "service" | "resource">): boolean {
    return [...this.entries.values()].some((e) => e.connector?.handles(c) === true);
  }

  /** Routes a SET/ACT to the connector that owns a command for it. */
  async dispatch(command: ConnectorCommand): Promise<unknown> {
    for (const e of this.entries.values())
      if (e.connector?.handles(command)) return e.connector.execute(command);
    throw new RelaisError("RELAIS_ERR_CONNECTOR_NO_COMMAND", undefined, {
      method: command.method,
      target: `${command.provider}/${command.service}/${command.resource}`,
    });
  }
}

function nameOf(doc: unknown): string | null {
  if (doc !== null && typeof doc === "object" && typeof (doc as { name?: unknown }).name === "string")
    return (doc as { name: string }).name;
  return null;
}

function kindOf(doc: unknown): string {
  if (doc !== null && typeof doc === "object" && typeof (doc as { kind?: unknown }).kind === "string")
    return (doc as { kind: string }).kind;
  return "?";
}
