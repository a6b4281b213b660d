/**
 * The bridge between the configured connectors and the core Gateway. It is ONE core Connector
 * (id "connectors" by default) registered with the Gateway, because connector instances come and
 * go with reloads while the Gateway's registry is fixed:
 *
 * - data: each instance's ModelSink declares unknown resources as owned by the bridge (kind and
 *   value type from the mapping, SENSOR / inferred by default) and pushes values; with `runAs`,
 *   the instance writes through the data-first use case (Gateway.applyUpdates) under that
 *   account's rights instead;
 * - commands: a SET/ACT on a resource the bridge owns is routed to the instance that configured a
 *   command for it (ConnectorManager.dispatch). A SET on a bridge-owned PROPERTY without a command
 *   is simply stored by the Gateway.
 */
import { RelaisError, isRelaisError } from "../core/errors.js";
import type { Gateway } from "../core/gateway.js";
import type { ResourceUpdate as CoreResourceUpdate } from "../core/model/types.js";
import type { ValueType as CoreValueType } from "../core/model/value-types.js";
import type {
  ConnectorActRequest,
  ConnectorContext as CoreConnectorContext,
  ConnectorSetRequest,
  Connector as CoreConnector,
} from "../core/ports.js";
import type { Principal } from "../core/security/principal.js";
import type { CommandDeclarationConfig } from "./config.js";
import type { ConnectorManager } from "./manager.js";
import type { ModelSink, ResourceUpdate, UpdateOutcome } from "./ports.js";

export const BRIDGE_ID = "connectors";

function inferType(v: unknown): CoreValueType {
  if (typeof v === "number") return "float";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  return "object";
}

function toCore(u: ResourceUpdate): CoreResourceUpdate {
  const out: CoreResourceUpdate = {
    provider: u.provider,
    service: u.service,
    resource: u.resource,
    value: u.value,
  };
  if (u.timestamp !== undefined) out.timestamp = u.timestamp;
  if (u.metadata !== undefined) out.metadata = u.metadata;
  return out;
}

function failure(e: unknown): UpdateOutcome {
  return isRelaisError(e)
    ? { ok: false, code: e.code, message: e.message }
    : { ok: false, code: "RELAIS_ERR_INTERNAL_BUG", message: String(e) };
}

export class GatewayBridge implements CoreConnector {
  readonly id: string;
  private ctx: CoreConnectorContext | null = null;
  private manager: ConnectorManager | null = null;

  constructor(
    private readonly gateway: Gateway,
    id = BRIDGE_ID,
  ) {
    this.id = id;
  }

  /** The manager whose connectors receive SET/ACT (set once by the composition root). */
  bind(manager: ConnectorManager): void {
    this.manager = manager;
  }

  attach(context: CoreConnectorContext): void {
    this.ctx = context;
  }

  // The manager owns the instances' lifecycle; the Gateway only needs the bridge attached.
  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  private context(): CoreConnectorContext {
    if (!this.ctx)
      throw new RelaisError(
        "RELAIS_ERR_CONNECTOR_NOT_RUNNING",
        "the connectors bridge is not registered with the gateway",
      );
    return this.ctx;
  }

  async set(request: ConnectorSetRequest): Promise<void> {
    const cmd = { method: "SET" as const, ...pick(request), value: request.value };
    if (this.manager?.handles(cmd)) await this.manager.dispatch(cmd);
  }

  async act(request: ConnectorActRequest): Promise<unknown> {
    if (!this.manager)
      throw new RelaisError("RELAIS_ERR_CONNECTOR_NOT_RUNNING", undefined, { uri: request.uri });
    return this.manager.dispatch({ method: "ACT", ...pick(request), parameters: request.parameters });
  }

  /** Declares the PROPERTY / ACTION resources a connector's commands write to. */
  declareCommands(decls: readonly CommandDeclarationConfig[]): void {
    const ctx = this.context();
    for (const d of decls) {
      const [provider, service, resource] = d.target.split("/") as [string, string, string];
      ctx.declare({
        name: provider,
        services: [
          {
            name: service,
            resources: [
              d.on === "SET"
                ? { name: resource, kind: "PROPERTY", valueType: coreType(d.type) }
                : {
                    name: resource,
                    kind: "ACTION",
                    valueType: "object",
                    parameters: d.parameters.map((p) => ({
                      name: p.name,
                      type: coreType(p.type),
                      ...(p.optional !== undefined ? { optional: p.optional } : {}),
                    })),
                  },
            ],
          },
        ],
      });
    }
  }

  /**
   * The sink of one connector instance. Without runAs: declare-and-push as the bridge (the
   * operator configured the connector; its resources belong to it). With runAs: the data-first
   * use case under that account's policy rights.
   */
  sinkFor(runAs: string | undefined): ModelSink {
    if (runAs !== undefined) return this.principalSink(runAs);
    return {
      apply: async (updates) => {
        const ctx = this.context();
        // Fast path: one batch push when every target already belongs to the bridge.
        const model = this.gateway.model;
        const owned = updates.every(
          (u) => model.resource(u.provider, u.service, u.resource)?.owner === this.id,
        );
        if (owned) {
          try {
            ctx.push(updates.map(toCore));
            return updates.map(() => ({ ok: true }) as const);
          } catch {
            // One bad update rejects the whole batch in the core: redo one by one below.
          }
        }
        return updates.map((u) => {
          try {
            const node = model.resource(u.provider, u.service, u.resource);
            if (!node) {
              ctx.declare({
                name: u.provider,
                services: [
                  {
                    name: u.service,
                    resources: [
                      {
                        name: u.resource,
                        kind: u.kind ?? "SENSOR",
                        valueType: coreType(u.valueType) ?? inferType(u.value),
                      },
                    ],
                  },
                ],
              });
            } else if (node.owner !== this.id) {
              throw new RelaisError(
                "RELAIS_ERR_MODEL_CONFLICT",
                `${node.uri} belongs to ${node.owner === null ? "data-first writers" : `connector ${node.owner}`}; set runAs to write it as an account`,
                { uri: node.uri },
              );
            }
            ctx.push(toCore(u));
            return { ok: true } as const;
          } catch (e) {
            return failure(e);
          }
        });
      },
    };
  }

  private principalSink(account: string): ModelSink {
    let principal: Promise<Principal> | null = null;
    return {
      apply: async (updates) => {
        principal ??= this.gateway.principalOf(account);
        let p: Principal;
        try {
          p = await principal;
        } catch (e) {
          principal = null;
          return updates.map(() => failure(e));
        }
        const r = this.gateway.applyUpdates(
          p,
          updates.map((u) => {
            const c = toCore(u);
            if (u.kind !== undefined) c.kind = u.kind;
            const t = coreType(u.valueType);
            if (t !== undefined) c.valueType = t;
            return c;
          }),
          { atomic: false },
        );
        const out: UpdateOutcome[] = updates.map(() => ({ ok: true }));
        for (const x of r.rejected) out[x.index] = { ok: false, code: x.code, message: x.message };
        return out;
      },
    };
  }
}

function pick(r: { provider: string; service: string; resource: string }) {
  return { provider: r.provider, service: r.service, resource: r.resource };
}

/** Connector value types are the core's names; anything else is left for the core to refuse. */
function coreType(t: string): CoreValueType;
function coreType(t: string | undefined): CoreValueType | undefined;
function coreType(t: string | undefined): CoreValueType | undefined {
  return t as CoreValueType | undefined;
}
