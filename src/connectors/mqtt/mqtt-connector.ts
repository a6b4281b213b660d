/**
 * MQTT connector (mqtt.js 5): subscribes to topic filters (+ and # wildcards) and maps each
 * message to resource updates — the payload as a plain value, JSON through the mapping engine, or
 * a SenML pack — and publishes SET/ACT to command topics.
 *
 * Delivery: QoS 1 and a persistent session (clean: false with a stable clientId), so messages
 * published while the gateway is away are queued by the broker. The PUBACK of an incoming QoS 1
 * message is sent only after its updates were handed to the model (mqtt.js `handleMessage`
 * backpressure hook), hence at-least-once into the model across a crash. mqtt.js reconnects on its
 * own (reconnectPeriod); the subscriptions are renewed on every CONNACK. A bad message (not JSON,
 * wrong shape, oversize, mapping error) is logged with its code, counted, acknowledged and
 * dropped: the connector keeps running.
 */
import { findCommand, requireCommand, type CommandKey } from "../commands.js";
import { connect, type IPublishPacket, type MqttClient } from "mqtt";
import { RelaisError, isRelaisError } from "../../core/errors.js";
import { UrlGuard } from "../../net/url-guard.js";
import {
  mustCompile,
  type MqttCommandConfig,
  type MqttConnectorConfig,
  type MqttSubscriptionConfig,
} from "../config.js";
import { fillTemplate, type CompiledMapping, type MappingError } from "../mapping.js";
import type {
  Connector,
  ConnectorCommand,
  ConnectorContext,
  ConnectorStatus,
  Credentials,
  ResourceUpdate,
} from "../ports.js";
import { recordsToUpdates, type SenmlDecode } from "../senml-records.js";
import { StatusTracker } from "../status-tracker.js";
import { commandVars, renderJson, renderText } from "../template.js";
import { matchTopic } from "./topic-match.js";

export const MQTT_COUNTERS = [
  "connects",
  "reconnects",
  "disconnects",
  "messages",
  "unmatched",
  "updates",
  "rejectedUpdates",
  "payloadErrors",
  "mappingErrors",
  "sinkFailures",
  "forbiddenUrls",
  "commands",
  "commandFailures",
] as const;

export interface MqttConnectorOptions {
  credentials?: Credentials;
  /** SenML decoder (src/senml); required when a subscription has format "senml". */
  senml?: SenmlDecode;
}

interface Subscription {
  cfg: MqttSubscriptionConfig;
  decode(
    payload: Buffer,
    vars: Record<string, string>,
    out: ResourceUpdate[],
    errors: MappingError[],
  ): Promise<void>;
}

export class MqttConnector implements Connector {
  readonly kind = "mqtt";
  readonly name: string;
  private readonly tracker: StatusTracker;
  private readonly subs: Subscription[];
  private client: MqttClient | null = null;
  private running = false;
  private upWaiters: (() => void)[] = [];

  constructor(
    private readonly cfg: MqttConnectorConfig,
    private readonly ctx: ConnectorContext,
    private readonly opts: MqttConnectorOptions = {},
  ) {
    this.name = cfg.name;
    this.tracker = new StatusTracker(cfg.name, "mqtt", ctx.clock, ctx.logger, MQTT_COUNTERS);
    this.subs = cfg.mapping.map((s, i) => this.compile(s, i));
  }

  private compile(s: MqttSubscriptionConfig, i: number): Subscription {
    const path = `/mapping/${i}`;
    const withDefaults = (u: ResourceUpdate): ResourceUpdate => {
      if (s.kind && !u.kind) u.kind = s.kind;
      if (s.unit !== undefined && !u.metadata?.unit) u.metadata = { ...u.metadata, unit: s.unit };
      return u;
    };
    const run = async (
      m: CompiledMapping,
      doc: unknown,
      vars: Record<string, string>,
      out: ResourceUpdate[],
      errors: MappingError[],
    ) => {
      const r = await m.evaluate(doc, vars);
      out.push(...r.updates.map(withDefaults));
      errors.push(...r.errors);
    };
    if (s.format === "plain") {
      const entry: Record<string, unknown> = { target: s.target, pointer: "" };
      if (s.type) entry.type = s.type;
      const m = mustCompile([entry], path);
      return {
        cfg: s,
        decode: (payload, vars, out, errors) =>
          run(m, plainValue(payload.toString("utf8"), s.type), vars, out, errors),
      };
    }
    if (s.format === "json") {
      const m = mustCompile(s.values, `${path}/values`);
      return {
        cfg: s,
        decode: async (payload, vars, out, errors) => {
          let doc: unknown;
          try {
            doc = JSON.parse(payload.toString("utf8"));
          } catch {
            throw new RelaisError("RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID", "the payload is not JSON", {
              topic: vars.topic,
            });
          }
          await run(m, doc, vars, out, errors);
        },
      };
    }
    return {
      cfg: s,
      decode: async (payload, vars, out, errors) => {
        const decode = this.opts.senml;
        if (!decode)
          throw new RelaisError("RELAIS_ERR_INTERNAL_BUG", "no SenML decoder given to the MQTT connector");
        // SenML JSON starts with '[' (possibly after whitespace); anything else is read as CBOR (RFC 8428 §6).
        const format = /^\s*\[/.test(payload.subarray(0, 16).toString("latin1")) ? "json" : "cbor";
        let records;
        try {
          records = decode(payload, format, this.ctx.clock.now() / 1000);
        } catch (e) {
          if (isRelaisError(e))
            throw new RelaisError(
              "RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID",
              `not a valid SenML pack: ${e.message}`,
              {
                topic: vars.topic,
                senmlCode: e.code,
                ...e.details,
              },
            );
          throw e;
        }
        const conv = recordsToUpdates(records, s.prefix ? fillTemplate(s.prefix, vars) : "");
        out.push(...conv.updates.map((x) => withDefaults(x.update)));
        errors.push(
          ...conv.rejected.map((r) => ({
            target: `record ${r.index}`,
            code: "RELAIS_ERR_CONNECTOR_MAPPING_FAILED" as const,
            message: r.message,
          })),
        );
      },
    };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.tracker.setState("starting");
    const o = this.cfg.options;
    let cred: Credentials | null = null;
    try {
      // Brokers live in private ranges: only the allow-list and the forbidden addresses apply.
      await new UrlGuard({
        allowHosts: o.allowHosts,
        allowNetworks: "any",
        protocols: ["mqtt:", "mqtts:", "ws:", "wss:"],
        ...(this.ctx.lookup ? { lookup: this.ctx.lookup } : {}),
        codes: {
          refused: "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN",
          unresolved: "RELAIS_ERR_CONNECTOR_UNREACHABLE",
        },
      }).check(o.url);
      cred = await this.credentials();
    } catch (e) {
      if (isRelaisError(e) && e.code === "RELAIS_ERR_CONNECTOR_URL_FORBIDDEN")
        this.tracker.inc("forbiddenUrls");
      this.tracker.error(e, {}, "error");
      this.tracker.setState("down");
      return;
    }
    const client = connect(o.url, {
      clientId: o.clientId,
      clean: o.clean,
      keepalive: o.keepaliveS,
      reconnectPeriod: o.reconnectPeriodMs,
      connectTimeout: o.connectTimeoutMs,
      // Subscriptions are renewed on every CONNACK below; mqtt.js' own resubscribe would double them.
      resubscribe: false,
      ...(cred?.username !== undefined ? { username: cred.username } : {}),
      ...(cred?.password !== undefined ? { password: cred.password } : {}),
    });
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      this.onMessage(packet).then(
        () => {
          done();
        },
        () => {
          done();
        },
      );
    };
    client.on("connect", () => {
      this.tracker.inc("connects");
      const filters = Object.fromEntries(this.cfg.mapping.map((s) => [s.topic, { qos: o.qos }]));
      client.subscribe(filters, (err, granted) => {
        if (err) {
          this.tracker.error(
            new RelaisError("RELAIS_ERR_CONNECTOR_UNREACHABLE", `subscribe failed: ${err.message}`),
          );
          this.tracker.setState("down");
          return;
        }
        const refused = (granted ?? []).filter((g) => g.qos === 128);
        if (refused.length > 0) {
          this.tracker.error(
            new RelaisError("RELAIS_ERR_CONNECTOR_UNREACHABLE", "the broker refused subscriptions", {
              topics: refused.map((g) => g.topic),
            }),
          );
          this.tracker.setState("degraded");
        } else this.tracker.setState("up");
        this.tracker.success();
        for (const w of this.upWaiters.splice(0)) w();
      });
    });
    client.on("reconnect", () => {
      this.tracker.inc("reconnects");
    });
    client.on("close", () => {
      if (!this.running) return;
      if (this.tracker.current !== "down") this.tracker.inc("disconnects");
      this.tracker.setState("down");
    });
    client.on("error", (err) => {
      this.tracker.error(
        new RelaisError(
          "RELAIS_ERR_CONNECTOR_UNREACHABLE",
          `MQTT: ${err.message}`,
          { url: redact(o.url) },
          { cause: err },
        ),
      );
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const c = this.client;
    this.client = null;
    // The session stays on the broker (clean: false): a restart resumes with the queued messages.
    if (c) await c.endAsync();
    this.tracker.setState("stopped");
  }

  /** Resolves once connected and subscribed (for tests and the composition root's start-up log). */
  whenUp(timeoutMs: number): Promise<boolean> {
    if (this.tracker.current === "up" || this.tracker.current === "degraded") return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
      this.upWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  status(): ConnectorStatus {
    return this.tracker.status();
  }

  private async credentials(): Promise<Credentials | null> {
    if (this.opts.credentials) return this.opts.credentials;
    const ref = this.cfg.options.auth?.credentials;
    if (ref === undefined) return null;
    const c = this.ctx.credentials ? await this.ctx.credentials.resolve(ref) : null;
    if (!c)
      throw new RelaisError("RELAIS_ERR_CONNECTOR_CREDENTIALS_MISSING", `no credentials for ${ref}`, {
        credentials: ref,
      });
    return c;
  }

  /** One incoming message; never throws (errors are counted and logged). */
  private async onMessage(packet: IPublishPacket): Promise<void> {
    this.tracker.inc("messages");
    const topic = packet.topic;
    const payload =
      typeof packet.payload === "string" ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
    if (payload.length > this.cfg.options.maxPayloadBytes) {
      this.tracker.inc("payloadErrors");
      this.tracker.error(
        new RelaisError(
          "RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID",
          `payload of ${payload.length} bytes is too large`,
          {
            topic,
            maxPayloadBytes: this.cfg.options.maxPayloadBytes,
          },
        ),
      );
      this.markDegraded();
      return;
    }
    const updates: ResourceUpdate[] = [];
    const errors: MappingError[] = [];
    let matched = false;
    let failed = false;
    for (const sub of this.subs) {
      const vars = matchTopic(sub.cfg.topic, topic);
      if (!vars) continue;
      matched = true;
      try {
        await sub.decode(payload, vars, updates, errors);
      } catch (e) {
        failed = true;
        if (isRelaisError(e) && e.code === "RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID")
          this.tracker.inc("payloadErrors");
        else this.tracker.inc("mappingErrors");
        this.tracker.error(e, { topic });
      }
    }
    if (!matched) this.tracker.inc("unmatched");
    if (errors.length > 0) {
      failed = true;
      this.tracker.inc("mappingErrors", errors.length);
      const first = errors[0]!;
      this.tracker.error(
        new RelaisError(first.code, `${first.target}: ${first.message}`, {
          topic,
          failedEntries: errors.length,
        }),
      );
    }
    if (updates.length > 0) {
      const now = this.ctx.clock.now();
      for (const u of updates) u.timestamp ??= now;
      try {
        const outcomes = await this.ctx.sink.apply(updates);
        const rejected = outcomes.filter((o) => !o.ok);
        this.tracker.inc("updates", outcomes.length - rejected.length);
        if (rejected.length > 0) {
          failed = true;
          this.tracker.inc("rejectedUpdates", rejected.length);
          const r = rejected[0]!;
          if (!r.ok)
            this.tracker.error(
              new RelaisError("RELAIS_ERR_CONNECTOR_MAPPING_FAILED", `${r.code}: ${r.message}`, {
                topic,
                rejectedCode: r.code,
              }),
            );
        }
      } catch (e) {
        failed = true;
        this.tracker.inc("sinkFailures");
        this.tracker.error(e, { topic }, "error");
      }
    }
    if (failed) this.markDegraded();
    else if (this.tracker.current === "degraded" && this.client?.connected) this.tracker.setState("up");
    if (!failed && updates.length > 0) this.tracker.success();
  }

  private markDegraded(): void {
    if (this.tracker.current === "up") this.tracker.setState("degraded");
  }

  handles(c: CommandKey): boolean {
    return findCommand(this.cfg.commands, c) !== undefined;
  }

  /** Publishes a SET/ACT to its command topic; resolves on PUBACK (QoS 1) or write (QoS 0). */
  async execute(command: ConnectorCommand): Promise<unknown> {
    const cmd: MqttCommandConfig = requireCommand(this.name, this.cfg.commands, command);
    const client = this.client;
    if (!this.running || !client)
      throw new RelaisError("RELAIS_ERR_CONNECTOR_NOT_RUNNING", undefined, { connector: this.name });
    this.tracker.inc("commands");
    // mqtt.js would queue the publish while offline and resolve much later: refuse instead.
    if (!client.connected) {
      this.tracker.inc("commandFailures");
      throw new RelaisError("RELAIS_ERR_CONNECTOR_UNREACHABLE", "the MQTT broker is not connected", {
        connector: this.name,
      });
    }
    const vars = commandVars(command);
    const topic = renderText(cmd.topic, vars);
    const body =
      cmd.payload !== undefined
        ? renderJson(cmd.payload, vars)
        : command.method === "SET"
          ? command.value
          : command.parameters;
    const payload = typeof body === "string" ? body : JSON.stringify(body ?? null);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.publishAsync(topic, payload, { qos: cmd.qos, retain: cmd.retain }),
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            reject(new RelaisError("RELAIS_ERR_CONNECTOR_TIMEOUT", "no PUBACK from the broker", { topic }));
          }, this.cfg.options.connectTimeoutMs);
        }),
      ]);
      return { topic, qos: cmd.qos };
    } catch (e) {
      this.tracker.inc("commandFailures");
      const err = isRelaisError(e)
        ? e
        : new RelaisError(
            "RELAIS_ERR_CONNECTOR_UNREACHABLE",
            `publish failed: ${(e as Error).message}`,
            { topic },
            { cause: e },
          );
      this.tracker.error(err, { command: command.method, target: cmd.target });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A plain payload: typed by the subscription, else a number, true/false, or the text itself. */
function plainValue(text: string, type: MqttSubscriptionConfig["type"]): unknown {
  if (type !== undefined) return text;
  const t = text.trim();
  if (t !== "" && Number.isFinite(Number(t))) return Number(t);
  if (t === "true" || t === "false") return t === "true";
  return text;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "?";
  }
}
