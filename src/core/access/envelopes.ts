/**
 * The response envelopes of the access methods, exactly as in the sensiNact Gateway Core spec:
 * `{response, statusCode, type, uri}` (plus `triggered` for ACT). Errors keep the envelope with
 * `error: {code, message}` (and `details` when there are some) and no `response`;
 * statusCode is then the catalogue status of the code.
 */
import { ERRORS, isRelaisError, RelaisError, type ErrorCode } from "../errors.js";
import type { ResourceKind } from "../ports.js";
import type { ActionParameter } from "../model/types.js";
import type { Method } from "../security/policy.js";

export type TaskStatus = "INITIALIZED" | "LAUNCHED" | "ACKNOWLEDGED" | "EXECUTED" | "ABORTED";

export type EnvelopeType =
  | "GET_RESPONSE"
  | "SET_RESPONSE"
  | "ACT_RESPONSE"
  | "SUBSCRIBE_RESPONSE"
  | "UNSUBSCRIBE_RESPONSE"
  | "PROVIDERS_LIST"
  | "DESCRIBE_PROVIDER"
  | "SERVICES_LIST"
  | "DESCRIBE_SERVICE"
  | "RESOURCES_LIST"
  | "DESCRIBE_RESOURCE";

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface ErrorEnvelope<T extends EnvelopeType> {
  error: ErrorBody;
  statusCode: number;
  type: T;
  uri: string;
}

export interface OkEnvelope<T extends EnvelopeType, R> {
  response: R;
  statusCode: number;
  type: T;
  uri: string;
}

export type Envelope<T extends EnvelopeType, R> = OkEnvelope<T, R> | ErrorEnvelope<T>;

/** GET/SET response body: `{timestamp, name, type, value, ...metadata}`. */
export interface AttributeResponse {
  timestamp: number | null;
  name: string;
  type: string;
  value: unknown;
  [metadata: string]: unknown;
}

export interface ActTaskResponse {
  taskId: string;
  result: unknown;
  status: TaskStatus;
  start: number;
  end: number;
}

export type GetEnvelope = Envelope<"GET_RESPONSE", AttributeResponse>;
export type SetEnvelope = Envelope<"SET_RESPONSE", AttributeResponse>;
export type SetOkEnvelope = OkEnvelope<"SET_RESPONSE", AttributeResponse>;
export type ActEnvelope =
  | (OkEnvelope<"ACT_RESPONSE", ActTaskResponse> & { triggered: SetOkEnvelope[] })
  | ErrorEnvelope<"ACT_RESPONSE">;
export type SubscribeEnvelope = Envelope<"SUBSCRIBE_RESPONSE", { subscriptionId: string }>;
export type UnsubscribeEnvelope = Envelope<
  "UNSUBSCRIBE_RESPONSE",
  { taskId: string; status: TaskStatus; start: number; end: number }
>;

// ---- DESCRIBE bodies ----

export interface ProviderSummary {
  name: string;
  friendlyName: string | null;
  location: unknown;
}

export interface ProviderDescription extends ProviderSummary {
  description: string | null;
  /** Services the caller may describe. */
  services: string[];
}

export interface ServiceDescription {
  name: string;
  provider: string;
  /** Resources the caller may describe. */
  resources: string[];
}

export interface ResourceDescription {
  name: string;
  uri: string;
  /** SENSOR | STATE_VARIABLE | PROPERTY | ACTION */
  type: ResourceKind;
  valueType: string;
  /** Metadata name → {value, timestamp}. */
  metadata: Record<string, { value: unknown; timestamp: number }>;
  /** The access methods this caller may use on this resource. */
  accessMethods: Method[];
  /** ACTION only. */
  parameters?: ActionParameter[];
}

export type ProvidersEnvelope = Envelope<"PROVIDERS_LIST", ProviderSummary[]>;
export type ProviderEnvelope = Envelope<"DESCRIBE_PROVIDER", ProviderDescription>;
export type ServicesEnvelope = Envelope<"SERVICES_LIST", ServiceDescription[]>;
export type ServiceEnvelope = Envelope<"DESCRIBE_SERVICE", ServiceDescription>;
export type ResourcesEnvelope = Envelope<"RESOURCES_LIST", ResourceDescription[]>;
export type ResourceEnvelope = Envelope<"DESCRIBE_RESOURCE", ResourceDescription>;

// ---- Notifications ----

/** What a SUBSCRIBE listener receives. */
export interface SubscriptionNotification {
  type: "SUBSCRIPTION_NOTIFICATION";
  subscriptionId: string;
  /** The resource (or, for lifecycle events, the provider/service/resource) concerned. */
  uri: string;
  timestamp: number;
  /** DATA: the new value; METADATA: {name, value}; LIFECYCLE: the action, e.g. "RESOURCE_CREATED". */
  value: unknown;
  /** Present for METADATA and LIFECYCLE events (absent = a value change). */
  event?: "METADATA" | "LIFECYCLE";
}

// ---- Builders ----

export function ok<T extends EnvelopeType, R>(
  type: T,
  uri: string,
  response: R,
  statusCode = 200,
): OkEnvelope<T, R> {
  return { response, statusCode, type, uri };
}

/** Turns anything thrown into an error envelope (non-RelaisError → INTERNAL_BUG). */
export function fail<T extends EnvelopeType>(type: T, uri: string, e: unknown): ErrorEnvelope<T> {
  const err = isRelaisError(e) ? e : new RelaisError("RELAIS_ERR_INTERNAL_BUG", undefined, {}, { cause: e });
  const body: ErrorBody = { code: err.code, message: err.message };
  if (Object.keys(err.details).length > 0) body.details = { ...err.details };
  return { error: body, statusCode: ERRORS[err.code].status, type, uri };
}

export function isOk<T extends EnvelopeType, R>(e: Envelope<T, R>): e is OkEnvelope<T, R> {
  return "response" in e;
}
