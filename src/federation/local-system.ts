/**
 * The federation's way into the local system: the core Gateway's access methods, always on behalf
 * of a principal (the UserApp's local account), so the security policy applies to what is read for
 * consumers and to what peers write (CONTRACTS.md §4, RELIABILITY.md S2).
 *
 * Exactly-once effect: a message may be applied again after a crash (its Inbox row is still pending)
 * or by a racing path. Values carry timestamps, and the core applies an update whose timestamp
 * EQUALS the stored one again (last writer wins) and emits a second DATA event. So apply() skips a
 * record when the resource already holds a newer value or the same value at the same timestamp:
 * re-applying a message changes nothing and notifies nobody. The check and the apply run in one
 * synchronous section (Gateway.applyUpdates is synchronous), so no other apply interleaves.
 */
import type { Gateway } from "../core/gateway.js";
import { RelaisError, isRelaisError, type ErrorCode } from "../core/errors.js";
import type { ResourceUpdate } from "../core/model/types.js";
import type { Principal } from "../core/security/principal.js";
import { pathOf, type FederatedRecord } from "./records.js";
import type { ResourceName, Selector } from "./selector.js";
import type { Credentials } from "./stores.js";

export interface RecordRejection {
  index: number;
  uri: string;
  code: ErrorCode;
  message: string;
}

export interface ApplyOutcome {
  applied: number;
  /** Already held (same value and timestamp, or newer): an idempotent re-apply. */
  skipped: number;
  rejected: RecordRejection[];
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

export class LocalSystem {
  constructor(readonly gateway: Gateway) {}

  /**
   * The principal named by UserApp credentials: `{account}` (a local account, trusted mapping),
   * `{username|user, password}` (checked like a Basic login) or `{token}` (an API token).
   */
  async principalFor(credentials: Credentials | null): Promise<Principal> {
    if (credentials === null) {
      throw new RelaisError("RELAIS_ERR_FED_UNKNOWN_USER", "The user app has no credentials");
    }
    const account = str(credentials.account);
    const user = str(credentials.username) ?? str(credentials.user);
    const password = typeof credentials.password === "string" ? credentials.password : undefined;
    const token = str(credentials.token);
    if (user !== undefined && password !== undefined) {
      return this.gateway.authenticate({ kind: "basic", user, password });
    }
    if (token !== undefined) return this.gateway.authenticate({ kind: "bearer", token });
    if (account !== undefined) return this.gateway.principalOf(account);
    throw new RelaisError(
      "RELAIS_ERR_FED_UNKNOWN_USER",
      "The user app credentials name no local account ({account}, {username, password} or {token})",
    );
  }

  /**
   * Current values of the resources matching `selector` that `caller` may GET (the model tree is
   * walked only to find candidates; every value is read with Gateway.get as the caller).
   */
  read(caller: Principal, selector: Selector): FederatedRecord[] {
    const out: FederatedRecord[] = [];
    const model = this.gateway.model;
    for (const provider of model.providerNames()) {
      if (!selector.matchesProvider(provider)) continue;
      const p = model.provider(provider);
      if (!p) continue;
      for (const [service, s] of p.services) {
        for (const resource of s.resources.keys()) {
          const name = { provider, service, resource };
          if (!selector.matches(name)) continue;
          const rec = this.readOne(caller, name);
          if (rec) out.push(rec);
        }
      }
    }
    return out;
  }

  /** One resource's value as `caller` may GET it; undefined when not visible, not readable or never set. */
  readOne(caller: Principal, name: ResourceName): FederatedRecord | undefined {
    const env = this.gateway.get(caller, `/${pathOf(name)}`);
    if (!("response" in env)) return undefined;
    const r = env.response;
    if (r.timestamp === null || r.value === null || r.value === undefined) return undefined;
    const rec: FederatedRecord = { ...name, value: r.value, timestamp: r.timestamp };
    if (typeof r.unit === "string") rec.unit = r.unit;
    return rec;
  }

  /** Trusted change feed (resource paths whose value changed); the caller re-reads with readOne. */
  onChange(listener: (name: ResourceName) => void): () => void {
    return this.gateway.onEvent((e) => {
      if (e.kind === "DATA") listener({ provider: e.provider, service: e.service, resource: e.resource });
    });
  }

  /**
   * Applies records on behalf of `caller`, each on its own (per-record rejection, S2):
   * data-first creation where the policy grants CREATE, updates where it grants SET. Resources of a
   * local connector are the local system's own data: a peer may SET their PROPERTY resources
   * (through the connector) but never overwrite a sensor or state variable, nor write an action.
   */
  async apply(caller: Principal, records: readonly FederatedRecord[]): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: 0, skipped: 0, rejected: [] };
    const model = this.gateway.model;
    const updates: ResourceUpdate[] = [];
    const indexOf: number[] = [];
    const viaSet: { index: number; uri: string; value: unknown }[] = [];
    records.forEach((rec, index) => {
      const uri = `/${pathOf(rec)}`;
      const node = model.resource(rec.provider, rec.service, rec.resource);
      let value = rec.value;
      if (node) {
        if (node.kind === "ACTION" || (node.owner !== null && node.kind !== "PROPERTY")) {
          outcome.rejected.push({
            index,
            uri,
            code: "RELAIS_ERR_FED_FORBIDDEN_RECORD",
            message: `${node.kind} ${uri} belongs to the local system and cannot be written from the federation`,
          });
          return;
        }
        // A JSON value sent as a string (SenML has no object value) goes back to an object resource.
        if ((node.valueType === "object" || node.valueType === "geojson") && typeof value === "string") {
          try {
            value = JSON.parse(value) as unknown;
          } catch {
            // left as is: the type check rejects it
          }
        }
        const allowed = this.gateway.allows(caller, "SET", uri);
        if (
          allowed &&
          node.timestamp !== null &&
          (node.timestamp > rec.timestamp ||
            (node.timestamp === rec.timestamp && sameValue(node.value, value)))
        ) {
          outcome.skipped++;
          return;
        }
        if (node.owner !== null && allowed) {
          viaSet.push({ index, uri, value });
          return;
        }
      }
      const u: ResourceUpdate = {
        provider: rec.provider,
        service: rec.service,
        resource: rec.resource,
        value,
        timestamp: rec.timestamp,
      };
      if (rec.unit !== undefined && node?.metadata.get("unit")?.value !== rec.unit)
        u.metadata = { unit: rec.unit };
      updates.push(u);
      indexOf.push(index);
    });
    if (updates.length > 0) {
      const r = this.gateway.applyUpdates(caller, updates, { atomic: false });
      outcome.applied += r.applied;
      outcome.skipped += r.stale;
      for (const rej of r.rejected) {
        outcome.rejected.push({ ...rej, index: indexOf[rej.index] ?? rej.index });
      }
    }
    for (const s of viaSet) {
      const env = await this.gateway.set(caller, s.uri, s.value);
      if ("response" in env) outcome.applied++;
      else
        outcome.rejected.push({
          index: s.index,
          uri: s.uri,
          code: env.error.code,
          message: env.error.message,
        });
    }
    outcome.rejected.sort((a, b) => a.index - b.index);
    return outcome;
  }

  /** Resolves once every applied value is in the ValueStore (before an Inbox row is marked applied). */
  async flush(): Promise<void> {
    await this.gateway.flush();
  }
}

export function describeRejections(rejected: readonly RecordRejection[], total: number): string {
  const head = rejected
    .slice(0, 5)
    .map((r) => `${r.uri} ${r.code}`)
    .join("; ");
  return `${rejected.length} of ${total} records refused: ${head}${rejected.length > 5 ? "; …" : ""}`;
}

export function isRetryable(e: unknown): boolean {
  return isRelaisError(e) && e.retryable;
}
