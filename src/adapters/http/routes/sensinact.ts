/**
 * sensiNact-compatible REST (CONTRACTS.md §3): describe routes, GET / SET / ACT / SUBSCRIBE /
 * UNSUBSCRIBE with the seed's envelopes (HTTP status = statusCode), SSE subscriptions and HTTP
 * callbacks. Rights are the core policy's: it answers 404 for what the caller may not DESCRIBE.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { RelaisError } from "../../../core/errors.js";
import type { CallbackDispatcher } from "../callbacks.js";
import { errorEnvelope } from "../http-errors.js";
import type { HttpMetrics } from "../metrics.js";
import type {
  DescribeQuery,
  Envelope as EnvelopeT,
  Notification,
  NorthboundGateway,
  Parameter,
  ResourcePath,
} from "../ports.js";
import {
  Envelope,
  ParametersBody,
  ProviderParams,
  ResourceParams,
  ServiceParams,
  type ResourceParams as ResourceParamsT,
} from "../schemas.js";
import type { SseStreams } from "../sse.js";

export interface SensinactRoutesOptions {
  gateway: NorthboundGateway;
  metrics: HttpMetrics;
  callbacks: CallbackDispatcher;
  sse: SseStreams;
}

const TAG = ["sensinact"];
const RESOURCE = "/providers/:provider/services/:service/resources/:resource";

/**
 * The envelope as JSON text: the response schemas document the envelope (OpenAPI) but
 * `response` is free-form, and fast-json-stringify walking it costs more than JSON.stringify.
 */
function send(reply: FastifyReply, env: EnvelopeT): FastifyReply {
  return reply.status(env.statusCode).type("application/json; charset=utf-8").send(JSON.stringify(env));
}

function pathOf(p: ResourceParamsT): ResourcePath {
  return { provider: p.provider, service: p.service, resource: p.resource };
}

function uriOf(p: ResourcePath): string {
  return `/${p.provider}/${p.service}/${p.resource}`;
}

/** The value of the named parameter, if present. */
export function param(parameters: readonly Parameter[], name: string): unknown {
  return parameters.find((p) => p.name === name)?.value;
}

export function subscriptionIdOf(env: EnvelopeT & { subscriptionId?: string }): string | null {
  if (typeof env.subscriptionId === "string") return env.subscriptionId;
  const r = env.response as { subscriptionId?: unknown } | undefined;
  return typeof r?.subscriptionId === "string" ? r.subscriptionId : null;
}

export const sensinactRoutes: FastifyPluginAsync<SensinactRoutesOptions> = async (app, opts) => {
  const { gateway, metrics, callbacks, sse } = opts;

  /**
   * Run an access method; a thrown RelaisError becomes the error envelope. Answers without a
   * promise when the method did (a GET): no microtask hops on the hot path.
   */
  function guarded(
    type: string,
    uri: string,
    f: () => EnvelopeT | Promise<EnvelopeT>,
  ): EnvelopeT | Promise<EnvelopeT> {
    const failed = (e: unknown): EnvelopeT => {
      const env = errorEnvelope(e, type, uri);
      if (env.statusCode >= 500) app.log.error({ err: e, uri }, "access method failed");
      return counted(env);
    };
    const counted = (env: EnvelopeT): EnvelopeT => {
      metrics.observeAccess(type.endsWith("_RESPONSE") ? type.slice(0, -9) : "DESCRIBE", env.statusCode);
      return env;
    };
    try {
      const r = f();
      return r instanceof Promise ? r.then(counted, failed) : counted(r);
    } catch (e) {
      return failed(e);
    }
  }

  // ---- describe ------------------------------------------------------------------------------
  const describe = (
    url: string,
    type: string,
    params: typeof ProviderParams | typeof ServiceParams | typeof ResourceParams | null,
    query: (p: Record<string, string>) => DescribeQuery,
    summary: string,
  ): void => {
    app.get<{ Params: Record<string, string> }>(
      url,
      {
        config: { envelope: type },
        schema: {
          tags: TAG,
          summary,
          ...(params ? { params } : {}),
          response: { default: Envelope },
        },
      },
      async (req, reply) => {
        const q = query(req.params);
        const uri = "/" + Object.values(req.params).join("/");
        return send(reply, await guarded(type, uri, () => gateway.describe(req.caller, q)));
      },
    );
  };
  describe(
    "/providers",
    "PROVIDERS_LIST",
    null,
    () => ({ kind: "providers" }),
    "Providers the caller may see",
  );
  describe(
    "/providers/:provider",
    "DESCRIBE_PROVIDER",
    ProviderParams,
    (p) => ({ kind: "provider", provider: p["provider"]! }),
    "Describe a provider",
  );
  describe(
    "/providers/:provider/services",
    "SERVICES_LIST",
    ProviderParams,
    (p) => ({ kind: "services", provider: p["provider"]! }),
    "Services of a provider",
  );
  describe(
    "/providers/:provider/services/:service",
    "DESCRIBE_SERVICE",
    ServiceParams,
    (p) => ({ kind: "service", provider: p["provider"]!, service: p["service"]! }),
    "Describe a service",
  );
  describe(
    "/providers/:provider/services/:service/resources",
    "RESOURCES_LIST",
    ServiceParams,
    (p) => ({ kind: "resources", provider: p["provider"]!, service: p["service"]! }),
    "Resources of a service",
  );
  describe(
    RESOURCE,
    "DESCRIBE_RESOURCE",
    ResourceParams,
    (p) => ({
      kind: "resource",
      provider: p["provider"]!,
      service: p["service"]!,
      resource: p["resource"]!,
    }),
    "Describe a resource: type, value type, metadata, the access methods the caller may use",
  );

  // ---- GET / SET / ACT -------------------------------------------------------------------------
  app.get<{ Params: ResourceParamsT }>(
    `${RESOURCE}/GET`,
    {
      config: { envelope: "GET_RESPONSE" },
      schema: {
        tags: TAG,
        summary: "GET: the resource's value and metadata",
        params: ResourceParams,
        response: { default: Envelope },
      },
    },
    (req, reply) => {
      const path = pathOf(req.params);
      const env = guarded("GET_RESPONSE", uriOf(path), () => gateway.access(req.caller, "GET", path, []));
      // A sync handler that has sent returns nothing; a promise resolves to the reply.
      if (env instanceof Promise) return env.then((e) => send(reply, e));
      send(reply, env);
      return undefined;
    },
  );

  for (const method of ["SET", "ACT"] as const) {
    const type = `${method}_RESPONSE`;
    app.post<{ Params: ResourceParamsT; Body: ParametersBody }>(
      `${RESOURCE}/${method}`,
      {
        config: { envelope: type },
        schema: {
          tags: TAG,
          summary:
            method === "SET"
              ? "SET a PROPERTY: parameters [{name:'value', type, value}]"
              : "ACT on an ACTION resource: parameters are the action's arguments",
          params: ResourceParams,
          body: ParametersBody,
          response: { default: Envelope },
        },
      },
      async (req, reply) => {
        const path = pathOf(req.params);
        const parameters = req.body.parameters ?? [];
        return send(
          reply,
          await guarded(type, uriOf(path), () => gateway.access(req.caller, method, path, parameters)),
        );
      },
    );
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE (HTTP callbacks) ------------------------------------------------
  app.post<{ Params: ResourceParamsT; Body: ParametersBody }>(
    `${RESOURCE}/SUBSCRIBE`,
    {
      config: { envelope: "SUBSCRIBE_RESPONSE" },
      schema: {
        tags: TAG,
        summary:
          "SUBSCRIBE with an HTTP callback: parameters [{name:'conditions', value:[…]}, {name:'callback', value:'https://…'}]",
        params: ResourceParams,
        body: ParametersBody,
        response: { default: Envelope },
      },
    },
    async (req, reply) => {
      const path = pathOf(req.params);
      const all = req.body.parameters ?? [];
      const env = await guarded("SUBSCRIBE_RESPONSE", uriOf(path), async () => {
        const callback = param(all, "callback");
        if (typeof callback !== "string")
          throw new RelaisError(
            "RELAIS_ERR_HTTP_BAD_REQUEST",
            "A REST subscription needs a 'callback' parameter (or use the WebSocket or SSE)",
            { parameter: "callback" },
          );
        const url = await callbacks.prepare(callback);
        const { sink, attach } = callbacks.sinkFor(url);
        const parameters = all.filter((p) => p.name !== "callback");
        const res = await gateway.subscribe(req.caller, path, parameters, sink);
        const id = subscriptionIdOf(res);
        if (id !== null && res.statusCode < 300) {
          attach(id);
          metrics.subscriptions.inc({ channel: "callback" });
        }
        return res;
      });
      return send(reply, env);
    },
  );

  app.post<{ Params: ResourceParamsT; Body: ParametersBody }>(
    `${RESOURCE}/UNSUBSCRIBE`,
    {
      config: { envelope: "UNSUBSCRIBE_RESPONSE" },
      schema: {
        tags: TAG,
        summary: "UNSUBSCRIBE: parameters [{name:'subscriptionId', value:'…'}]",
        params: ResourceParams,
        body: ParametersBody,
        response: { default: Envelope },
      },
    },
    async (req, reply) => {
      const path = pathOf(req.params);
      const env = await guarded("UNSUBSCRIBE_RESPONSE", uriOf(path), async () => {
        const id = param(req.body.parameters ?? [], "subscriptionId");
        if (typeof id !== "string" || id === "")
          throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "The 'subscriptionId' parameter is missing", {
            parameter: "subscriptionId",
          });
        const res = await gateway.unsubscribe(req.caller, path, id);
        if (res.statusCode < 300 && callbacks.has(id)) {
          callbacks.remove(id);
          metrics.subscriptions.dec({ channel: "callback" });
        }
        return res;
      });
      return send(reply, env);
    },
  );

  // ---- SSE -------------------------------------------------------------------------------------
  app.get<{ Params: ResourceParamsT; Querystring: { conditions?: string } }>(
    `${RESOURCE}/SUBSCRIBE`,
    {
      config: { envelope: "SUBSCRIBE_RESPONSE" },
      schema: {
        tags: TAG,
        summary:
          "SUBSCRIBE as Server-Sent Events (Accept: text/event-stream); optional conditions as JSON in the query",
        params: ResourceParams,
        querystring: Type.Object({ conditions: Type.Optional(Type.String({ maxLength: 4096 })) }),
        produces: ["text/event-stream"],
        response: {
          200: {
            description: "event stream: `subscribed` (the SUBSCRIBE_RESPONSE), then `notification`s",
            content: { "text/event-stream": { schema: Type.String() } },
          },
          default: Envelope,
        },
      },
    },
    async (req: FastifyRequest<{ Params: ResourceParamsT; Querystring: { conditions?: string } }>, reply) => {
      const path = pathOf(req.params);
      const uri = uriOf(path);
      if (!(req.headers.accept ?? "").includes("text/event-stream"))
        return send(
          reply,
          errorEnvelope(
            new RelaisError(
              "RELAIS_ERR_HTTP_BAD_REQUEST",
              "GET …/SUBSCRIBE is an event stream: send Accept: text/event-stream (or POST with a callback)",
              { header: "accept" },
            ),
            "SUBSCRIBE_RESPONSE",
            uri,
          ),
        );
      const early: Notification[] = [];
      let deliver: ((n: Notification) => void) | null = null;
      let subscriptionId: string | null = null;
      const env = await guarded("SUBSCRIBE_RESPONSE", uri, async () => {
        sse.reserve();
        const parameters: Parameter[] = [];
        if (req.query.conditions !== undefined) {
          let conditions: unknown;
          try {
            conditions = JSON.parse(req.query.conditions);
          } catch {
            throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "conditions is not JSON", {
              parameter: "conditions",
            });
          }
          parameters.push({ name: "conditions", value: conditions });
        }
        const res = await gateway.subscribe(req.caller, path, parameters, (n) => {
          if (deliver) deliver(n);
          else early.push(n);
        });
        subscriptionId = subscriptionIdOf(res);
        return res;
      });
      const id = subscriptionId as string | null;
      if (env.statusCode >= 300 || id === null) return send(reply, env);
      if (req.raw.destroyed) {
        gateway.dropSubscription(id);
        return reply;
      }
      reply.hijack();
      const stream = sse.attach(reply.raw);
      metrics.subscriptions.inc({ channel: "sse" });
      stream.onClose(() => {
        gateway.dropSubscription(id);
        metrics.subscriptions.dec({ channel: "sse" });
      });
      reply.raw.write(`event: subscribed\ndata: ${JSON.stringify(env)}\n\n`);
      deliver = (n) => {
        metrics.notifications.inc({ channel: "sse" });
        stream.send(n);
      };
      for (const n of early.splice(0)) deliver(n);
      return reply;
    },
  );
};
