/**
 * `GET /sensinact/ws` (CONTRACTS.md §3): JSON requests `{requestId, method, uri, parameters}`, the
 * same envelopes back with the requestId, and `SUBSCRIPTION_NOTIFICATION` frames. Frames above the
 * server's maxPayload close the socket with 1009 (done by ws); each connection holds at most
 * `maxSubscriptions` subscriptions; closing the socket ends all of them. A client that does not
 * read (more than 8 MiB buffered) is closed with 1013 rather than buffering without bound.
 */
import websocket from "@fastify/websocket";
import type { FastifyPluginAsync } from "fastify";
import type { WebSocket } from "ws";
import { RelaisError } from "../../../core/errors.js";
import { errorEnvelope } from "../http-errors.js";
import type { HttpMetrics } from "../metrics.js";
import type {
  DescribeQuery,
  Envelope,
  HttpCaller,
  NorthboundGateway,
  Parameter,
  ResourcePath,
} from "../ports.js";
import { subscriptionIdOf } from "./sensinact.js";

export interface WsRoutesOptions {
  gateway: NorthboundGateway;
  metrics: HttpMetrics;
  /** Frame size limit: bigger frames close the socket with 1009. */
  maxPayload: number;
  maxSubscriptions: number;
  /** Bytes buffered for a client before it is closed as too slow (default 8 MiB). */
  maxBuffered?: number;
}

const METHODS = ["GET", "SET", "ACT", "SUBSCRIBE", "UNSUBSCRIBE", "DESCRIBE"] as const;
type WsMethod = (typeof METHODS)[number];

interface WsRequest {
  requestId?: string | number;
  method: WsMethod;
  segments: string[];
  parameters: Parameter[];
}

/**
 * Accepts `/p/s/r` and the REST form `/providers/p/services/s/resources/r[/METHOD]`.
 * Segments are percent-decoded like REST path parameters.
 */
export function parseUri(uri: string): { segments: string[]; method?: WsMethod } {
  const raw = uri.split("/").filter((s) => s !== "");
  let parts: string[];
  try {
    parts = raw.map((s) => decodeURIComponent(s));
  } catch {
    throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "uri is not valid percent-encoding", {
      field: "uri",
    });
  }
  if (parts[0] === "providers") {
    const segments: string[] = [];
    const keys = ["providers", "services", "resources"];
    let i = 0;
    for (; i < parts.length && segments.length < 3; i += 2) {
      if (parts[i] !== keys[segments.length] || parts[i + 1] === undefined) break;
      segments.push(parts[i + 1]!);
    }
    const rest = parts.slice(i);
    const m = rest[0];
    if (rest.length === 1 && m !== undefined && (METHODS as readonly string[]).includes(m))
      return { segments, method: m as WsMethod };
    if (rest.length === 0) return { segments };
    throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "uri is not a sensiNact path", { field: "uri" });
  }
  if (parts.length > 3)
    throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "uri is /provider/service/resource", {
      field: "uri",
    });
  return { segments: parts };
}

function parseRequest(data: string): WsRequest & { requestId?: string | number } {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "The frame is not JSON");
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg))
    throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "The frame is not a JSON object");
  const o = msg as Record<string, unknown>;
  const requestId =
    typeof o["requestId"] === "string" || typeof o["requestId"] === "number" ? o["requestId"] : undefined;
  const base = requestId === undefined ? {} : { requestId };
  try {
    if (typeof o["uri"] !== "string")
      throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "uri is missing", { field: "uri" });
    const parsed = parseUri(o["uri"]);
    const method = typeof o["method"] === "string" ? o["method"].toUpperCase() : parsed.method;
    if (method === undefined || !(METHODS as readonly string[]).includes(method))
      throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", `method must be one of ${METHODS.join(", ")}`, {
        field: "method",
      });
    const params = o["parameters"] ?? [];
    if (
      !Array.isArray(params) ||
      !params.every(
        (p) => typeof p === "object" && p !== null && typeof (p as { name?: unknown }).name === "string",
      )
    )
      throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "parameters must be [{name, type?, value}]", {
        field: "parameters",
      });
    return {
      ...base,
      method: method as WsMethod,
      segments: parsed.segments,
      parameters: params as Parameter[],
    };
  } catch (e) {
    if (e instanceof RelaisError) Object.assign(e, { requestId });
    throw e;
  }
}

const TYPE: Record<WsMethod, string> = {
  GET: "GET_RESPONSE",
  SET: "SET_RESPONSE",
  ACT: "ACT_RESPONSE",
  SUBSCRIBE: "SUBSCRIBE_RESPONSE",
  UNSUBSCRIBE: "UNSUBSCRIBE_RESPONSE",
  DESCRIBE: "DESCRIBE_RESPONSE",
};

function describeQuery(segments: string[]): DescribeQuery {
  const [provider, service, resource] = segments;
  if (provider === undefined) return { kind: "providers" };
  if (service === undefined) return { kind: "provider", provider };
  if (resource === undefined) return { kind: "service", provider, service };
  return { kind: "resource", provider, service, resource };
}

function resourcePath(segments: string[]): ResourcePath {
  const [provider, service, resource] = segments;
  if (provider === undefined || service === undefined || resource === undefined)
    throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "this method needs /provider/service/resource", {
      field: "uri",
    });
  return { provider, service, resource };
}

export const wsRoutes: FastifyPluginAsync<WsRoutesOptions> = async (app, opts) => {
  const { gateway, metrics, maxSubscriptions } = opts;
  const maxBuffered = opts.maxBuffered ?? 8 * 1024 * 1024;
  // Registered here, not on the root: its hooks and handler wrapper then run for this route only,
  // not on every REST request. Upgrade requests to other routes get a plain answer, after which
  // the root's onResponse hook ends their socket.
  await app.register(websocket, { options: { maxPayload: opts.maxPayload } });

  app.get(
    "/ws",
    {
      websocket: true,
      schema: {
        tags: ["sensinact"],
        summary:
          "WebSocket: {requestId, method, uri, parameters} → envelopes with requestId; SUBSCRIPTION_NOTIFICATION frames",
      },
    },
    (socket: WebSocket, req) => {
      const caller: HttpCaller = req.caller;
      const owned = new Set<string>();
      let pending = 0;
      let closed = false;

      const sendJson = (o: unknown): void => {
        if (closed || socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > maxBuffered) {
          socket.close(1013, "client too slow");
          return;
        }
        socket.send(JSON.stringify(o));
      };

      const handle = async (r: WsRequest): Promise<Envelope> => {
        const uri = "/" + r.segments.join("/");
        switch (r.method) {
          case "DESCRIBE":
            return gateway.describe(caller, describeQuery(r.segments));
          case "GET":
          case "SET":
          case "ACT":
            return gateway.access(caller, r.method, resourcePath(r.segments), r.parameters);
          case "SUBSCRIBE": {
            const path = resourcePath(r.segments);
            if (owned.size + pending >= maxSubscriptions)
              throw new RelaisError("RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT", undefined, {
                limit: maxSubscriptions,
              });
            pending += 1;
            try {
              const env = await gateway.subscribe(caller, path, r.parameters, (n) => {
                metrics.notifications.inc({ channel: "ws" });
                sendJson({ type: "SUBSCRIPTION_NOTIFICATION", ...n });
              });
              const id = subscriptionIdOf(env);
              if (id !== null && env.statusCode < 300) {
                if (closed) gateway.dropSubscription(id);
                else {
                  owned.add(id);
                  metrics.subscriptions.inc({ channel: "ws" });
                }
              }
              return env;
            } finally {
              pending -= 1;
            }
          }
          case "UNSUBSCRIBE": {
            const path = resourcePath(r.segments);
            const id = r.parameters.find((p) => p.name === "subscriptionId")?.value;
            if (typeof id !== "string")
              throw new RelaisError(
                "RELAIS_ERR_HTTP_BAD_REQUEST",
                "The 'subscriptionId' parameter is missing",
                {
                  parameter: "subscriptionId",
                },
              );
            const env = await gateway.unsubscribe(caller, path, id);
            if (env.statusCode < 300 && owned.delete(id)) metrics.subscriptions.dec({ channel: "ws" });
            return env;
          }
        }
        return errorEnvelope(new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST"), "ERROR", uri);
      };

      socket.on("message", (data, isBinary) => {
        let r: WsRequest;
        try {
          if (isBinary) throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "Send text frames with JSON");
          r = parseRequest(
            Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.concat(data as Buffer[]).toString("utf8"),
          );
        } catch (e) {
          const requestId = (e as { requestId?: unknown }).requestId;
          sendJson({ ...errorEnvelope(e, "ERROR", ""), ...(requestId === undefined ? {} : { requestId }) });
          return;
        }
        const type = TYPE[r.method];
        const uri = "/" + r.segments.join("/");
        handle(r)
          .catch((e: unknown) => {
            const env = errorEnvelope(e, type, uri);
            if (env.statusCode >= 500) req.log.error({ err: e, uri }, "websocket request failed");
            return env;
          })
          .then((env) => {
            if (r.method !== "DESCRIBE") metrics.observeAccess(r.method, env.statusCode);
            sendJson(r.requestId === undefined ? env : { ...env, requestId: r.requestId });
          })
          .catch((e: unknown) => {
            req.log.error({ err: e }, "websocket send failed");
          });
      });

      socket.on("close", () => {
        closed = true;
        for (const id of owned) gateway.dropSubscription(id);
        metrics.subscriptions.dec({ channel: "ws" }, owned.size);
        owned.clear();
      });
      socket.on("error", (err) => {
        req.log.debug({ err }, "websocket error");
      });
    },
  );
};
