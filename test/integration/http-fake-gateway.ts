/**
 * A small stand-in for the core behind the NorthboundGateway port, for tests of the HTTP edge
 * alone (framework errors, auth plumbing, channels). The integration tests against the real core
 * live in http-core.test.ts.
 */
import { RelaisError } from "../../src/core/errors.js";
import type {
  Credentials,
  DescribeQuery,
  Envelope,
  HttpCaller,
  NorthboundGateway,
  NotificationSink,
  Parameter,
  ResourcePath,
} from "../../src/adapters/http/ports.js";

interface Res {
  kind: "SENSOR" | "PROPERTY" | "ACTION";
  value: unknown;
  ts: number;
}

export class FakeGateway implements NorthboundGateway {
  readonly model = new Map<string, Res>([
    ["/room/climate/temperature", { kind: "SENSOR", value: 21, ts: 1 }],
    ["/room/climate/setpoint", { kind: "PROPERTY", value: 20, ts: 1 }],
    ["/room/climate/boost", { kind: "ACTION", value: null, ts: 1 }],
    ["/vault/secret/code", { kind: "SENSOR", value: 42, ts: 1 }],
  ]);
  readonly subs = new Map<string, { uri: string; sink: NotificationSink }>();
  private next = 0;

  private visible(caller: HttpCaller, provider: string): boolean {
    return provider !== "vault" || caller.level === "ADMIN";
  }

  async authenticate(c: Credentials): Promise<HttpCaller | null> {
    if (c.kind === "bearer" && c.token === "user-token")
      return { name: "alice", level: "AUTHENTICATED", handle: null };
    if (c.kind === "basic" && c.user === "alice" && c.password === "secret")
      return { name: "alice", level: "AUTHENTICATED", handle: null };
    if (c.kind === "bearer" && c.token === "admin-token")
      return { name: "root", level: "ADMIN", handle: null };
    return null;
  }
  anonymous(): HttpCaller {
    return { name: null, level: "ANONYMOUS", handle: null };
  }
  private res(caller: HttpCaller, p: ResourcePath): Res {
    const r = this.model.get(`/${p.provider}/${p.service}/${p.resource}`);
    if (!r || !this.visible(caller, p.provider)) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND");
    return r;
  }
  async describe(caller: HttpCaller, q: DescribeQuery): Promise<Envelope> {
    const uris = [...this.model.keys()].filter((u) => this.visible(caller, u.split("/")[1]!));
    if (q.kind === "providers")
      return {
        response: [...new Set(uris.map((u) => u.split("/")[1]))],
        statusCode: 200,
        type: "PROVIDERS_LIST",
        uri: "/",
      };
    const prefix =
      "/" +
      [q.provider, "service" in q ? q.service : undefined, "resource" in q ? q.resource : undefined]
        .filter((x) => x !== undefined)
        .join("/");
    const hit = uris.filter((u) => u === prefix || u.startsWith(prefix + "/"));
    if (hit.length === 0) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND");
    return {
      response: { name: prefix, children: hit },
      statusCode: 200,
      type: q.kind.toUpperCase(),
      uri: prefix,
    };
  }
  async access(
    caller: HttpCaller,
    method: "GET" | "SET" | "ACT",
    p: ResourcePath,
    params: readonly Parameter[],
  ): Promise<Envelope> {
    const r = this.res(caller, p);
    const uri = `/${p.provider}/${p.service}/${p.resource}`;
    if (method === "GET")
      return {
        response: { name: p.resource, value: r.value, timestamp: r.ts, type: "float" },
        statusCode: 200,
        type: "GET_RESPONSE",
        uri,
      };
    if (caller.name === null) throw new RelaisError("RELAIS_ERR_HTTP_UNAUTHENTICATED");
    if (method === "SET") {
      if (r.kind !== "PROPERTY") throw new RelaisError("RELAIS_ERR_HTTP_FORBIDDEN");
      r.value = params.find((x) => x.name === "value")?.value;
      r.ts += 1;
      for (const [id, s] of this.subs)
        if (s.uri === uri) s.sink({ subscriptionId: id, uri, timestamp: r.ts, value: r.value });
      return {
        response: { name: p.resource, value: r.value, timestamp: r.ts },
        statusCode: 200,
        type: "SET_RESPONSE",
        uri,
      };
    }
    return {
      response: { taskId: "t1", status: "EXECUTED", result: null, start: 1, end: 2 },
      triggered: [],
      statusCode: 200,
      type: "ACT_RESPONSE",
      uri,
    };
  }
  async subscribe(
    caller: HttpCaller,
    p: ResourcePath,
    _params: readonly Parameter[],
    sink: NotificationSink,
  ) {
    this.res(caller, p);
    const id = `sub-${++this.next}`;
    const uri = `/${p.provider}/${p.service}/${p.resource}`;
    this.subs.set(id, { uri, sink });
    return { response: { subscriptionId: id }, statusCode: 200, type: "SUBSCRIBE_RESPONSE", uri };
  }
  async unsubscribe(_caller: HttpCaller, p: ResourcePath, id: string): Promise<Envelope> {
    const uri = `/${p.provider}/${p.service}/${p.resource}`;
    if (!this.subs.delete(id)) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND");
    return { response: { status: "EXECUTED" }, statusCode: 200, type: "UNSUBSCRIBE_RESPONSE", uri };
  }
  dropSubscription(id: string): void {
    this.subs.delete(id);
  }
  /** Change a value from "the connector" and notify. */
  emit(uri: string, value: unknown): void {
    const r = this.model.get(uri)!;
    r.value = value;
    r.ts += 1;
    for (const [id, s] of this.subs)
      if (s.uri === uri) s.sink({ subscriptionId: id, uri, timestamp: r.ts, value });
  }
}
