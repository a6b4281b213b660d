/**
 * The in-memory model: providers → services → resources, each resource with a timestamped value
 * and timestamped metadata. Pure and synchronous; every change emits ModelEvents to one sink.
 * Security is not checked here: the Gateway facade does that before calling the model.
 */
import { RelaisError } from "../errors.js";
import type { Clock, ResourceKind, StoredResource } from "../ports.js";
import { assertName, formatPath } from "./names.js";
import type { ActionParameter, ModelEvent, ProviderDeclaration, ResourceDeclaration } from "./types.js";
import { assertType, isValueType, type ValueType } from "./value-types.js";

function deepFreeze(v: object): void {
  if (Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) if (typeof x === "object" && x !== null) deepFreeze(x as object);
}

export const ADMIN_SERVICE = "admin";

/** The implicit admin service of every provider (sensiNact): friendlyName, description, location. */
export const ADMIN_RESOURCES: readonly ResourceDeclaration[] = [
  { name: "friendlyName", kind: "PROPERTY", valueType: "string" },
  { name: "description", kind: "PROPERTY", valueType: "string" },
  { name: "location", kind: "PROPERTY", valueType: "geojson" },
];

export interface MetadataEntry {
  value: unknown;
  timestamp: number;
}

export interface ResourceNode {
  readonly provider: string;
  readonly service: string;
  readonly name: string;
  readonly uri: string;
  readonly kind: ResourceKind;
  readonly valueType: ValueType;
  value: unknown;
  timestamp: number | null;
  readonly metadata: Map<string, MetadataEntry>;
  /** ACTION only; replaced when the resource is re-declared (parameters are not persisted). */
  parameters: readonly ActionParameter[];
  /** Id of the owning connector, or null (data-first / federation / admin). */
  owner: string | null;
  /**
   * A slot for the security layer's cached decisions about this resource (the Gateway stores the
   * policy's PathAccess here, tagged with the policy it came from). Not part of the model's state.
   */
  accessCache: { policy: object; access: object } | null;
}

export interface ServiceNode {
  readonly name: string;
  readonly resources: Map<string, ResourceNode>;
}

export interface ProviderNode {
  readonly name: string;
  readonly services: Map<string, ServiceNode>;
  owner: string | null;
}

export type ModelSink = (event: ModelEvent) => void;

/** Result of one value update. */
export type UpdateOutcome = "updated" | "stale";

export class ResourceModel {
  private readonly providers = new Map<string, ProviderNode>();
  /** Every resource by its canonical uri "/p/s/r": one lookup for the access methods. */
  private readonly byUri = new Map<string, ResourceNode>();

  constructor(
    private readonly clock: Clock,
    private sink: ModelSink = () => undefined,
  ) {}

  setSink(sink: ModelSink): void {
    this.sink = sink;
  }

  get size(): number {
    return this.byUri.size;
  }

  providerNames(): string[] {
    return [...this.providers.keys()];
  }

  provider(name: string): ProviderNode | undefined {
    return this.providers.get(name);
  }

  service(provider: string, service: string): ServiceNode | undefined {
    return this.providers.get(provider)?.services.get(service);
  }

  resource(provider: string, service: string, resource: string): ResourceNode | undefined {
    return this.providers.get(provider)?.services.get(service)?.resources.get(resource);
  }

  /** The resource at the canonical uri "/p/s/r" (no parsing: other spellings are not found). */
  resourceAt(uri: string): ResourceNode | undefined {
    return this.byUri.get(uri);
  }

  /** Creates the provider (with its admin service) if missing. Returns it. */
  ensureProvider(name: string, owner: string | null = null): ProviderNode {
    const existing = this.providers.get(name);
    if (existing) return existing;
    assertName(name, "provider name");
    const node: ProviderNode = { name, services: new Map(), owner };
    this.providers.set(name, node);
    const ts = this.clock.now();
    this.sink({
      kind: "LIFECYCLE",
      action: "PROVIDER_CREATED",
      uri: formatPath(name),
      provider: name,
      timestamp: ts,
    });
    for (const r of ADMIN_RESOURCES) this.ensureResource(name, ADMIN_SERVICE, r, owner);
    return node;
  }

  ensureService(provider: string, service: string, owner: string | null = null): ServiceNode {
    const p = this.ensureProvider(provider, owner);
    const existing = p.services.get(service);
    if (existing) return existing;
    assertName(service, "service name");
    const node: ServiceNode = { name: service, resources: new Map() };
    p.services.set(service, node);
    this.sink({
      kind: "LIFECYCLE",
      action: "SERVICE_CREATED",
      uri: formatPath(provider, service),
      provider,
      service,
      timestamp: this.clock.now(),
    });
    return node;
  }

  /**
   * Creates a resource, or returns the existing one when kind and value type agree
   * (a re-declaration may take over ownership and add metadata). Conflicts throw MODEL_CONFLICT.
   */
  ensureResource(
    provider: string,
    service: string,
    decl: ResourceDeclaration,
    owner: string | null = null,
  ): ResourceNode {
    const s = this.ensureService(provider, service, owner);
    const existing = s.resources.get(decl.name);
    if (existing) {
      if (existing.kind !== decl.kind || existing.valueType !== decl.valueType) {
        throw new RelaisError("RELAIS_ERR_MODEL_CONFLICT", undefined, {
          uri: existing.uri,
          kind: existing.kind,
          valueType: existing.valueType,
        });
      }
      if (owner !== null) existing.owner = owner;
      if (decl.parameters !== undefined) existing.parameters = decl.parameters;
      this.applyDeclaredValues(existing, decl);
      return existing;
    }
    assertName(decl.name, "resource name");
    if (!isValueType(decl.valueType)) {
      throw new RelaisError(
        "RELAIS_ERR_ACCESS_TYPE_MISMATCH",
        `Unknown value type ${String(decl.valueType)}`,
        {
          expected: "boolean|integer|float|string|object|binary|timestamp|geojson",
        },
      );
    }
    const uri = formatPath(provider, service, decl.name);
    const node: ResourceNode = {
      provider,
      service,
      name: decl.name,
      uri,
      kind: decl.kind,
      valueType: decl.valueType,
      value: null,
      timestamp: null,
      metadata: new Map(),
      parameters: decl.parameters ?? [],
      owner,
      accessCache: null,
    };
    s.resources.set(decl.name, node);
    this.byUri.set(node.uri, node);
    this.sink({
      kind: "LIFECYCLE",
      action: "RESOURCE_CREATED",
      uri,
      provider,
      service,
      resource: decl.name,
      timestamp: this.clock.now(),
    });
    this.applyDeclaredValues(node, decl);
    return node;
  }

  private applyDeclaredValues(node: ResourceNode, decl: ResourceDeclaration): void {
    const ts = this.clock.now();
    if (decl.metadata) {
      for (const [k, v] of Object.entries(decl.metadata)) {
        if (!node.metadata.has(k)) this.setMetadata(node, k, v, ts);
      }
    }
    if (decl.value !== undefined && node.timestamp === null) this.update(node, decl.value, ts);
  }

  /** Creates everything a connector declares. */
  declare(decl: ProviderDeclaration, owner: string | null): void {
    this.ensureProvider(decl.name, owner).owner = owner;
    // A provider restored from the store (owner null) is taken over with its admin service.
    for (const r of ADMIN_RESOURCES) this.ensureResource(decl.name, ADMIN_SERVICE, r, owner);
    for (const s of decl.services) {
      for (const r of s.resources) this.ensureResource(decl.name, s.name, r, owner);
    }
    const ts = this.clock.now();
    const admin = (name: string, v: unknown): void => {
      const r = this.resource(decl.name, ADMIN_SERVICE, name);
      if (r && v !== undefined) this.update(r, v, ts);
    };
    admin("friendlyName", decl.friendlyName);
    admin("description", decl.description);
    admin("location", decl.location);
  }

  /**
   * Sets a value. Type-checked; an update older than the stored timestamp is ignored ("stale"),
   * an equal timestamp is applied (the last writer wins).
   */
  update(node: ResourceNode, value: unknown, timestamp: number): UpdateOutcome {
    assertType(node.valueType, value, node.uri);
    if (node.timestamp !== null && timestamp < node.timestamp) return "stale";
    const oldValue = node.value;
    const oldTimestamp = node.timestamp;
    // Values are handed out by reference (GET, notifications): freeze objects so no one can mutate the model.
    if (typeof value === "object" && value !== null) deepFreeze(value);
    node.value = value;
    node.timestamp = timestamp;
    this.sink({
      kind: "DATA",
      uri: node.uri,
      provider: node.provider,
      service: node.service,
      resource: node.name,
      resourceKind: node.kind,
      oldValue,
      oldTimestamp,
      newValue: value,
      timestamp,
    });
    return "updated";
  }

  /** Sets one metadata entry; older than its own timestamp → ignored. */
  setMetadata(node: ResourceNode, name: string, value: unknown, timestamp: number): UpdateOutcome {
    const old = node.metadata.get(name);
    if (old && timestamp < old.timestamp) return "stale";
    node.metadata.set(name, { value, timestamp });
    this.sink({
      kind: "METADATA",
      uri: node.uri,
      provider: node.provider,
      service: node.service,
      resource: node.name,
      name,
      oldValue: old?.value ?? null,
      newValue: value,
      timestamp,
    });
    return "updated";
  }

  /** Removes a provider, a service or a resource. Returns false when it did not exist. */
  remove(provider: string, service?: string, resource?: string): boolean {
    const p = this.providers.get(provider);
    if (!p) return false;
    const ts = this.clock.now();
    if (service === undefined) {
      for (const s of [...p.services.keys()]) this.remove(provider, s);
      this.providers.delete(provider);
      this.sink({
        kind: "LIFECYCLE",
        action: "PROVIDER_REMOVED",
        uri: formatPath(provider),
        provider,
        timestamp: ts,
      });
      return true;
    }
    const s = p.services.get(service);
    if (!s) return false;
    if (resource === undefined) {
      for (const r of [...s.resources.keys()]) this.remove(provider, service, r);
      p.services.delete(service);
      this.sink({
        kind: "LIFECYCLE",
        action: "SERVICE_REMOVED",
        uri: formatPath(provider, service),
        provider,
        service,
        timestamp: ts,
      });
      return true;
    }
    const node = s.resources.get(resource);
    if (!node) return false;
    s.resources.delete(resource);
    this.byUri.delete(node.uri);
    this.sink({
      kind: "LIFECYCLE",
      action: "RESOURCE_REMOVED",
      uri: formatPath(provider, service, resource),
      provider,
      service,
      resource,
      timestamp: ts,
    });
    return true;
  }

  /** Restores persisted resources without emitting DATA events for the values (start-up). */
  restore(stored: readonly StoredResource[]): void {
    for (const sr of stored) {
      if (!isValueType(sr.valueType)) continue;
      const node = this.ensureResource(sr.provider, sr.service, {
        name: sr.resource,
        kind: sr.kind,
        valueType: sr.valueType,
      });
      node.value = sr.value;
      node.timestamp = sr.timestamp;
      for (const [k, m] of Object.entries(sr.metadata))
        node.metadata.set(k, { value: m.value, timestamp: m.timestamp });
    }
  }

  /** The persisted form of one resource. */
  static toStored(node: ResourceNode): StoredResource {
    const metadata: Record<string, { value: unknown; timestamp: number }> = {};
    for (const [k, m] of node.metadata) metadata[k] = { value: m.value, timestamp: m.timestamp };
    return {
      provider: node.provider,
      service: node.service,
      resource: node.name,
      kind: node.kind,
      valueType: node.valueType,
      value: node.value,
      timestamp: node.timestamp,
      metadata,
    };
  }

  *allResources(): IterableIterator<ResourceNode> {
    for (const p of this.providers.values()) {
      for (const s of p.services.values()) yield* s.resources.values();
    }
  }
}
