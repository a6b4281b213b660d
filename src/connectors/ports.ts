/**
 * What connectors need from the rest of the gateway, as small ports. The composition root adapts
 * the core `Gateway` (data-first use case, command routing) and the stores to these, so that the
 * connectors depend on roles, not on the core's concrete classes (STYLE.md: adapters never import
 * each other; dependency direction core ← senml ← connectors).
 */
import type { Clock, Lifecycle, Logger, ResourceKind } from "../core/ports.js";

/** One value a local system produced for one resource of the model. */
export interface ResourceUpdate {
  provider: string;
  service: string;
  resource: string;
  value: unknown;
  /** ms since the epoch; the sink uses its clock when absent. */
  timestamp?: number;
  /** Resource kind used when the sink creates the resource (default SENSOR). */
  kind?: ResourceKind;
  /** Value type used when the sink creates the resource (float, int, string, boolean, json…). */
  valueType?: string;
  /** Metadata to set with the value, e.g. { unit: "Cel" }. */
  metadata?: Record<string, unknown>;
}

/** Per-update outcome of a sink write: accepted, or rejected with a stable code. */
/** `code` is an ErrorCode of the catalogue (typed as string: sinks may pass codes through). */
export type UpdateOutcome = { ok: true } | { ok: false; code: string; message: string };

/**
 * The data-first use case, bound to the connector's caller: push values into the model, creating
 * unknown providers/services/resources when the policy lets the caller create them. Never throws
 * for a per-update refusal (it is an outcome); throws only when the whole batch cannot be applied.
 */
export interface ModelSink {
  apply(updates: readonly ResourceUpdate[]): Promise<UpdateOutcome[]>;
}

/** A SET or ACT the gateway routes to the connector that owns the resource (write-back). */
export type ConnectorCommand =
  | { method: "SET"; provider: string; service: string; resource: string; value: unknown }
  | {
      method: "ACT";
      provider: string;
      service: string;
      resource: string;
      parameters: Record<string, unknown>;
    };

/** Credentials of a user for a local system (a decrypted UserApp, or given by the caller). */
export interface Credentials {
  username?: string;
  password?: string;
  token?: string;
  apiKey?: string;
}

/** Resolves a credentials reference from a connector's config (e.g. a UserApp id) to secrets. */
export interface CredentialsResolver {
  resolve(ref: string): Promise<Credentials | null>;
}

/** Where connector configuration documents come from (the `config` table). */
export interface ConnectorConfigSource {
  /** Every connector document, unvalidated (the manager validates and reports problems). */
  list(): Promise<unknown[]>;
}

export type ConnectorState = "starting" | "up" | "degraded" | "down" | "stopped";

export interface ConnectorStatus {
  name: string;
  kind: string;
  state: ConnectorState;
  lastError: { code: string; message: string; at: number } | null;
  /** Monotonic counters (polls, messages, updates, errors…), for /metrics. */
  counters: Record<string, number>;
  /** ms epoch of the last successful ingest, or null. */
  lastSuccessAt: number | null;
}

/** One running connector instance. start()/stop() are idempotent. */
export interface Connector extends Lifecycle {
  readonly name: string;
  readonly kind: string;
  status(): ConnectorStatus;
  /** Whether this connector has a command for the resource and method. */
  handles(command: Pick<ConnectorCommand, "method" | "provider" | "service" | "resource">): boolean;
  /** Write back to the local system; rejects with a RelaisError (code) on failure. */
  execute(command: ConnectorCommand): Promise<unknown>;
}

/** Host name resolution, injectable so tests can map names to addresses. */
export type LookupFn = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** What every connector gets from the manager. */
export interface ConnectorContext {
  sink: ModelSink;
  logger: Logger;
  clock: Clock;
  credentials?: CredentialsResolver;
  lookup?: LookupFn;
}
