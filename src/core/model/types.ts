/** Shapes of the gateway model: declarations, updates and events. */
import type { ResourceKind } from "../ports.js";
import type { ValueType } from "./value-types.js";

export type { ResourceKind };

/** One parameter of an ACTION resource. */
export interface ActionParameter {
  name: string;
  type: ValueType;
  optional?: boolean;
}

/** What a connector (or data-first creation) declares about a resource. */
export interface ResourceDeclaration {
  name: string;
  kind: ResourceKind;
  valueType: ValueType;
  /** Initial metadata (unit, description, min, max, …). */
  metadata?: Record<string, unknown>;
  /** Initial value (timestamped with the clock). */
  value?: unknown;
  /** ACTION only: the parameters ACT expects. */
  parameters?: readonly ActionParameter[];
}

export interface ServiceDeclaration {
  name: string;
  resources: readonly ResourceDeclaration[];
}

export interface ProviderDeclaration {
  name: string;
  /** Values of the implicit admin service. */
  friendlyName?: string;
  description?: string;
  /** GeoJSON (RFC 7946), usually a Point. */
  location?: unknown;
  services: readonly ServiceDeclaration[];
}

/** A value update pushed by a connector or applied on behalf of a principal. */
export interface ResourceUpdate {
  provider: string;
  service: string;
  resource: string;
  value: unknown;
  /** ms since epoch; defaults to the clock. Updates older than the stored value are ignored. */
  timestamp?: number;
  /** Metadata to set along with the value (unit, …), each timestamped like the value. */
  metadata?: Record<string, unknown>;
  /** Data-first creation only (applyUpdates): the kind to create (default SENSOR). */
  kind?: ResourceKind;
  /** Data-first creation only: the value type to create (default inferred from the value). */
  valueType?: ValueType;
}

export type LifecycleAction =
  | "PROVIDER_CREATED"
  | "PROVIDER_REMOVED"
  | "SERVICE_CREATED"
  | "SERVICE_REMOVED"
  | "RESOURCE_CREATED"
  | "RESOURCE_REMOVED";

/** Events of the model, delivered synchronously in the order they happen. */
export type ModelEvent =
  | {
      kind: "LIFECYCLE";
      action: LifecycleAction;
      uri: string;
      provider: string;
      service?: string;
      resource?: string;
      timestamp: number;
    }
  | {
      kind: "DATA";
      uri: string;
      provider: string;
      service: string;
      resource: string;
      resourceKind: ResourceKind;
      oldValue: unknown;
      oldTimestamp: number | null;
      newValue: unknown;
      timestamp: number;
    }
  | {
      kind: "METADATA";
      uri: string;
      provider: string;
      service: string;
      resource: string;
      name: string;
      oldValue: unknown;
      newValue: unknown;
      timestamp: number;
    };
