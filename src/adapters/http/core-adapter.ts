/**
 * The core `Gateway` facade seen through the API's NorthboundGateway port. The composition root
 * passes `coreNorthbound(gateway)` as `deps.gateway`. The facade's access methods already return
 * the seed's envelopes (errors included); this adapter only maps the API's terms onto its calls.
 */
import { isRelaisError } from "../../core/errors.js";
import type { Gateway } from "../../core/gateway.js";
import { ANONYMOUS, principal, type Principal } from "../../core/security/principal.js";
import type {
  Credentials,
  DescribeQuery,
  Envelope,
  HttpCaller,
  NorthboundGateway,
  NotificationSink,
  Parameter,
  ResourcePath,
  SecurityAdmin,
} from "./ports.js";

function caller(p: Principal): HttpCaller {
  return { name: p.account, level: p.level, handle: p };
}

function principalOf(c: HttpCaller): Principal {
  return (c.handle as Principal | null) ?? ANONYMOUS;
}

function uriOf(p: ResourcePath): string {
  return `/${p.provider}/${p.service}/${p.resource}`;
}

function param(parameters: readonly Parameter[], name: string): unknown {
  return parameters.find((p) => p.name === name)?.value;
}

export interface CoreNorthboundOptions {
  /** Account name the bootstrap admin token stands for (the core's default: relais-admin). */
  bootstrapAccount?: string;
}

export function coreNorthbound(gateway: Gateway, options: CoreNorthboundOptions = {}): NorthboundGateway {
  // Subscriptions the API opened: ended with their owner's principal when the channel goes away.
  const owners = new Map<string, Principal>();
  const anonymous = caller(ANONYMOUS);

  const security: SecurityAdmin = {
    listAccounts: (c) => gateway.listAccounts(principalOf(c)),
    createAccount: (c, input) => gateway.createAccount(principalOf(c), input),
    updateAccount: (c, name, changes) => gateway.updateAccount(principalOf(c), name, changes),
    deleteAccount: (c, name) => gateway.deleteAccount(principalOf(c), name),
    createToken: (c, input) => gateway.createToken(principalOf(c), input),
    listTokens: (c, account) => gateway.listTokens(principalOf(c), account),
    revokeToken: (c, id) => gateway.revokeToken(principalOf(c), id),
    getPolicy: async (c) => gateway.getPolicy(principalOf(c)),
    setPolicy: (c, doc) => gateway.setPolicy(principalOf(c), doc),
  };

  return {
    security,
    async authenticate(credentials: Credentials) {
      try {
        return caller(await gateway.authenticate(credentials));
      } catch (e) {
        if (isRelaisError(e) && e.code === "RELAIS_ERR_SECURITY_BAD_CREDENTIALS") return null;
        throw e;
      }
    },
    anonymous: () => anonymous,
    adminCaller: () => caller(principal(options.bootstrapAccount ?? "relais-admin", "OWNER")),
    async describe(c, q: DescribeQuery): Promise<Envelope> {
      const p = principalOf(c);
      switch (q.kind) {
        case "providers":
          return gateway.describeProviders(p);
        case "provider":
          return gateway.describeProvider(p, q.provider);
        case "services":
          return gateway.describeServices(p, q.provider);
        case "service":
          return gateway.describeService(p, q.provider, q.service);
        case "resources":
          return gateway.describeResources(p, q.provider, q.service);
        case "resource":
          return gateway.describeResource(p, q.provider, q.service, q.resource);
      }
    },
    access(c, method, path, parameters): Envelope | Promise<Envelope> {
      const p = principalOf(c);
      const uri = uriOf(path);
      switch (method) {
        case "GET":
          return gateway.get(p, uri);
        case "SET":
          return gateway.set(p, uri, param(parameters, "value"));
        case "ACT":
          return gateway.act(
            p,
            uri,
            parameters.map((x) => ({ name: x.name, value: x.value })),
          );
      }
    },
    async subscribe(c, path, parameters, sink: NotificationSink) {
      const p = principalOf(c);
      const events = param(parameters, "events");
      const env = gateway.subscribe(p, uriOf(path), {
        listener: (n) => {
          sink({ subscriptionId: n.subscriptionId, uri: n.uri, timestamp: n.timestamp, value: n.value });
        },
        conditions: param(parameters, "conditions"),
        ...(Array.isArray(events) ? { events: events as never } : {}),
      });
      if ("response" in env) owners.set(env.response.subscriptionId, p);
      return env;
    },
    async unsubscribe(c, path, subscriptionId) {
      const env = gateway.unsubscribe(principalOf(c), uriOf(path), subscriptionId);
      if ("response" in env) owners.delete(subscriptionId);
      return env;
    },
    dropSubscription(subscriptionId) {
      const p = owners.get(subscriptionId);
      owners.delete(subscriptionId);
      if (p === undefined) return;
      const env = gateway.unsubscribe(p, "/", subscriptionId);
      // The owner may have lost the UNSUBSCRIBE right since: end it as the system instead.
      if (!("response" in env)) gateway.unsubscribe(principal("relais-http", "OWNER"), "/", subscriptionId);
    },
  };
}
