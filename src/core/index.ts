/**
 * The public surface of the gateway core, for the HTTP API, the CLI, the connectors and the
 * federation. Import from here (or from the individual modules; both are stable).
 */
export {
  Gateway,
  type AccountInfo,
  type ApplyResult,
  type ConnectorStatus,
  type Credentials,
  type GatewayOptions,
  type SubscribeOptions,
  type TokenInfo,
} from "./gateway.js";
export * from "./access/envelopes.js";
export { OPERATORS, parseConditions, type Condition, type Operator } from "./access/conditions.js";
export type { EventKind, SubscriptionListener, SubscriptionLimits } from "./access/subscriptions.js";
export { ADMIN_SERVICE, ADMIN_RESOURCES, type ResourceNode } from "./model/model.js";
export {
  formatPath,
  isValidName,
  parsePath,
  parseResourcePath,
  type ModelPath,
  type ResourcePath,
} from "./model/names.js";
export { VALUE_TYPES, inferType, isValueType, matchesType, type ValueType } from "./model/value-types.js";
export type * from "./model/types.js";
export { MemoryValueStore } from "./model/memory-value-store.js";
export { MemorySecurityStore } from "./security/memory-security-store.js";
export {
  ANONYMOUS,
  ACCESS_LEVELS,
  isAccessLevel,
  levelAtLeast,
  principal,
  type Principal,
} from "./security/principal.js";
export {
  DEFAULT_PROFILE,
  METHODS,
  emptyPolicy,
  parsePolicy,
  withGrant,
  withProfile,
  type AccessProfile,
  type Grant,
  type Method,
  type PolicyDocument,
  type PolicyNode,
  type Requirement,
} from "./security/policy.js";
