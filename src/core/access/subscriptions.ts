/**
 * Subscriptions and the fan-out of model events to them.
 *
 * A subscription watches a path: a resource ("/p/s/r") or a whole branch ("/p/s", "/p", "/").
 * It receives the event kinds it asked for (DATA by default; METADATA, LIFECYCLE on request) that
 * pass its conditions and that its principal may still SUBSCRIBE to (checked per event, so a
 * branch subscription never leaks what the caller may not see). Delivery is synchronous, in event
 * order, on the thread that made the change: listeners must be quick and must not throw (a throwing
 * listener is logged and kept).
 */
import { RelaisError } from "../errors.js";
import type { Logger } from "../ports.js";
import type { ModelEvent } from "../model/types.js";
import type { Principal } from "../security/principal.js";
import { matches, type Condition } from "./conditions.js";
import type { SubscriptionNotification } from "./envelopes.js";

export type EventKind = "DATA" | "METADATA" | "LIFECYCLE";

export type SubscriptionListener = (notification: SubscriptionNotification) => void;

export interface Subscription {
  readonly id: string;
  readonly principal: Principal;
  readonly uri: string;
  readonly events: ReadonlySet<EventKind>;
  readonly conditions: readonly Condition[];
  readonly listener: SubscriptionListener;
  readonly createdAt: number;
}

export interface SubscriptionLimits {
  /** Per account (all anonymous callers share one budget). Default 1 000. */
  perCaller: number;
  /** For the whole gateway. Default 100 000. */
  total: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = { perCaller: 1000, total: 100_000 };

/** The policy decisions at an event's path (resolved once per event, checked per subscriber). */
export type AccessAt = (segments: readonly string[]) => {
  allows(p: Principal, method: "SUBSCRIBE"): boolean;
  visible(p: Principal): boolean;
};

function ownerKey(p: Principal): string {
  return p.account ?? "\u0000anonymous";
}

export class SubscriptionRegistry {
  private readonly byId = new Map<string, Subscription>();
  private readonly byUri = new Map<string, Set<Subscription>>();
  private readonly perOwner = new Map<string, number>();

  constructor(
    private readonly limits: SubscriptionLimits,
    private readonly accessAt: AccessAt,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Subscription | undefined {
    return this.byId.get(id);
  }

  add(sub: Subscription): void {
    const key = ownerKey(sub.principal);
    const count = this.perOwner.get(key) ?? 0;
    if (this.byId.size >= this.limits.total) {
      throw new RelaisError(
        "RELAIS_ERR_ACCESS_SUBSCRIPTION_LIMIT",
        "The gateway's subscription limit is reached",
        {
          limit: this.limits.total,
          scope: "total",
        },
      );
    }
    if (count >= this.limits.perCaller) {
      throw new RelaisError(
        "RELAIS_ERR_ACCESS_SUBSCRIPTION_LIMIT",
        "This caller's subscription limit is reached",
        {
          limit: this.limits.perCaller,
          scope: "caller",
        },
      );
    }
    this.byId.set(sub.id, sub);
    let set = this.byUri.get(sub.uri);
    if (!set) this.byUri.set(sub.uri, (set = new Set()));
    set.add(sub);
    this.perOwner.set(key, count + 1);
  }

  remove(id: string): Subscription | undefined {
    const sub = this.byId.get(id);
    if (!sub) return undefined;
    this.byId.delete(id);
    const set = this.byUri.get(sub.uri);
    set?.delete(sub);
    if (set?.size === 0) this.byUri.delete(sub.uri);
    const key = ownerKey(sub.principal);
    const n = (this.perOwner.get(key) ?? 1) - 1;
    if (n <= 0) this.perOwner.delete(key);
    else this.perOwner.set(key, n);
    return sub;
  }

  /** Delivers one model event to every matching subscription. */
  dispatch(event: ModelEvent): void {
    if (this.byId.size === 0) return;
    const segments: string[] = [event.provider];
    if (event.service !== undefined) segments.push(event.service);
    if (event.resource !== undefined) segments.push(event.resource);
    const ctx = { segments, access: null as ReturnType<AccessAt> | null };
    // The event's own path and every ancestor, root included.
    let path = "";
    this.deliverAt("/", event, ctx);
    for (const seg of segments) {
      path += `/${seg}`;
      this.deliverAt(path, event, ctx);
    }
  }

  private deliverAt(
    uri: string,
    event: ModelEvent,
    ctx: { segments: readonly string[]; access: ReturnType<AccessAt> | null },
  ): void {
    const subs = this.byUri.get(uri);
    if (!subs) return;
    for (const sub of subs) {
      if (!sub.events.has(event.kind)) continue;
      let value: unknown;
      let test: unknown;
      let old: unknown;
      switch (event.kind) {
        case "DATA":
          value = test = event.newValue;
          old = event.oldValue;
          break;
        case "METADATA":
          value = { name: event.name, value: event.newValue };
          test = event.newValue;
          old = event.oldValue;
          break;
        case "LIFECYCLE":
          value = test = event.action;
          old = null;
          break;
      }
      if (sub.conditions.length > 0 && !matches(sub.conditions, test, old)) continue;
      ctx.access ??= this.accessAt(ctx.segments);
      if (!ctx.access.allows(sub.principal, "SUBSCRIBE") || !ctx.access.visible(sub.principal)) continue;
      const n: SubscriptionNotification = {
        type: "SUBSCRIPTION_NOTIFICATION",
        subscriptionId: sub.id,
        uri: event.uri,
        timestamp: event.timestamp,
        value,
      };
      if (event.kind !== "DATA") n.event = event.kind;
      try {
        sub.listener(n);
      } catch (e) {
        this.logger.warn({ err: e, subscriptionId: sub.id }, "subscription listener threw");
      }
    }
  }
}
