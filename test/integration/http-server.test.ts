/**
 * A real listening server on 127.0.0.1:0 with real clients: fetch, WebSocket (ws), SSE, and an
 * HTTP callback receiver; oversize frames, subscription caps and shutdown.
 */
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestGateway, type TestGateway } from "./http-support.js";

let t: TestGateway;
let base: string;
let wsUrl: string;
const T = "/sensinact/providers/thermostat-1/services/climate/resources";

beforeAll(async () => {
  t = await startTestGateway({
    ws: { maxPayload: 64 * 1024, maxSubscriptionsPerConnection: 3 },
    callbacks: { allowNetworks: ["127.0.0.0/8"], baseDelayMs: 10, maxAttempts: 3 },
  });
  const { port } = await t.http.start({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${port}/sensinact/ws`;
});
afterAll(async () => {
  await t.http.stop();
  await t.gateway.stop();
});

function until<T = any>(f: () => T | undefined, ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const poll = () => {
      const v = f();
      if (v !== undefined) resolve(v);
      else if (Date.now() - start > ms) reject(new Error("timed out"));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

function openWs(headers: Record<string, string> = {}): Promise<{ ws: WebSocket; frames: any[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers });
    const frames: any[] = [];
    ws.on("message", (d) => frames.push(JSON.parse((d as Buffer).toString())));
    ws.once("open", () => {
      resolve({ ws, frames });
    });
    ws.once("error", reject);
  });
}

const setpoint = (value: number) =>
  fetch(`${base}${T}/setpoint/SET`, {
    method: "POST",
    headers: { authorization: `Bearer ${t.tokens.alice}`, "content-type": "application/json" },
    body: JSON.stringify({ parameters: [{ name: "value", type: "float", value }] }),
  });

describe("REST over real HTTP", () => {
  it("GET with fetch", async () => {
    const r = await fetch(`${base}${T}/temperature/GET`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect((await r.json()) as any).toMatchObject({ type: "GET_RESPONSE", statusCode: 200 });
  });
  it("a 1 MiB+ body is 413 over the wire", async () => {
    const r = await fetch(`${base}${T}/setpoint/SET`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.tokens.alice}`, "content-type": "application/json" },
      body: JSON.stringify({ parameters: [{ name: "value", value: "x".repeat(1_100_000) }] }),
    });
    expect(r.status).toBe(413);
    expect(((await r.json()) as any).error.code).toBe("RELAIS_ERR_HTTP_BODY_TOO_LARGE");
  });
  it("serves the console at / and swagger-ui at /docs", async () => {
    const home = await fetch(`${base}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toContain("text/html");
    const docs = await fetch(`${base}/docs`, { redirect: "follow" });
    expect(docs.status).toBe(200);
  });
});

describe("WebSocket", () => {
  it("answers requests with the envelope and requestId, and streams notifications", async () => {
    const { ws, frames } = await openWs();
    ws.send(JSON.stringify({ requestId: "r1", method: "GET", uri: "/thermostat-1/climate/temperature" }));
    const get = await until(() => frames.find((f) => f.requestId === "r1"));
    expect(get).toMatchObject({
      type: "GET_RESPONSE",
      statusCode: 200,
      uri: "/thermostat-1/climate/temperature",
    });

    ws.send(
      JSON.stringify({
        requestId: "r2",
        method: "SUBSCRIBE",
        uri: "/thermostat-1/climate/setpoint",
        parameters: [{ name: "conditions", value: [{ operator: ">", operand: 25 }] }],
      }),
    );
    const sub = await until(() => frames.find((f) => f.requestId === "r2"));
    expect(sub).toMatchObject({ type: "SUBSCRIBE_RESPONSE", statusCode: 200 });
    const id = sub.response.subscriptionId;
    expect((await setpoint(24)).status).toBe(200); // filtered out by the condition
    expect((await setpoint(26)).status).toBe(200);
    const n = await until(() => frames.find((f) => f.type === "SUBSCRIPTION_NOTIFICATION"));
    expect(n).toMatchObject({ subscriptionId: id, uri: "/thermostat-1/climate/setpoint", value: 26 });
    expect(typeof n.timestamp).toBe("number");
    expect(frames.filter((f) => f.type === "SUBSCRIPTION_NOTIFICATION")).toHaveLength(1);

    ws.send(
      JSON.stringify({
        requestId: "r3",
        method: "UNSUBSCRIBE",
        uri: "/thermostat-1/climate/setpoint",
        parameters: [{ name: "subscriptionId", value: id }],
      }),
    );
    expect(await until(() => frames.find((f) => f.requestId === "r3"))).toMatchObject({
      type: "UNSUBSCRIBE_RESPONSE",
      statusCode: 200,
    });
    ws.close();
  });
  it("bad frames get a coded error, not a closed socket", async () => {
    const { ws, frames } = await openWs();
    ws.send("{not json");
    ws.send(JSON.stringify({ requestId: 7, method: "FLY", uri: "/a/b/c" }));
    ws.send(JSON.stringify({ requestId: 8, method: "GET", uri: "/vault-1/contact/open" }));
    await until(() => (frames.length >= 3 ? true : undefined));
    expect(frames[0].error.code).toBe("RELAIS_ERR_HTTP_BAD_REQUEST");
    expect(frames.find((f) => f.requestId === 7).error.code).toBe("RELAIS_ERR_HTTP_BAD_REQUEST");
    expect(frames.find((f) => f.requestId === 8)).toMatchObject({ statusCode: 404, type: "GET_RESPONSE" });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });
  it("an oversize frame closes the socket with 1009", async () => {
    const { ws } = await openWs();
    const code = await new Promise<number>((resolve) => {
      ws.on("close", (c) => {
        resolve(c);
      });
      ws.send("x".repeat(100 * 1024));
    });
    expect(code).toBe(1009);
  });
  it("caps subscriptions per connection and ends them when the socket closes", async () => {
    const before = t.gateway.subscriptionCount;
    const { ws, frames } = await openWs();
    for (let i = 0; i < 5; i++)
      ws.send(JSON.stringify({ requestId: `s${i}`, method: "SUBSCRIBE", uri: "/meter-1/power/active" }));
    await until(() => (frames.length >= 5 ? true : undefined));
    const codes = frames.map((f) => f.statusCode).sort();
    expect(codes).toEqual([200, 200, 200, 429, 429]);
    expect(frames.find((f) => f.statusCode === 429).error.code).toBe("RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT");
    expect(t.gateway.subscriptionCount).toBe(before + 3);
    ws.close();
    await until(() => (t.gateway.subscriptionCount === before ? true : undefined));
  });
  /**
   * Opens a WebSocket that the server answers without upgrading; resolves with the status once
   * the server has closed the socket (the client keeps its end open: a socket the server leaves
   * open would hold shutdown), or rejects after 2 s.
   */
  async function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
    const { status, closed } = await new Promise<{ status: number; closed: Promise<void> }>((resolve) => {
      const ws = new WebSocket(url, { headers });
      ws.on("unexpected-response", (_req, res) => {
        resolve({
          status: res.statusCode ?? 0,
          closed: new Promise((r) =>
            res.socket.once("close", () => {
              r();
            }),
          ),
        });
      });
      ws.on("open", () => {
        resolve({ status: 101, closed: Promise.resolve() });
      });
    });
    await Promise.race([
      closed,
      new Promise((_, reject) =>
        setTimeout(() => {
          reject(new Error("socket left open"));
        }, 2000),
      ),
    ]);
    return status;
  }
  it("bad credentials on the upgrade are refused with 401 and the server closes the socket", async () => {
    expect(await refusedUpgrade(wsUrl, { authorization: "Bearer nope" })).toBe(401);
  });
  it("an upgrade request to a route without a WebSocket handler gets a plain answer and a closed socket", async () => {
    expect(await refusedUpgrade(base.replace("http", "ws") + "/health/live")).toBe(200);
  });
  it("a browser-style bearer.<token> sub-protocol authenticates", async () => {
    const ws = new WebSocket(wsUrl, ["relais", `bearer.${t.tokens.alice}`]);
    const frames: any[] = [];
    ws.on("message", (d) => frames.push(JSON.parse((d as Buffer).toString())));
    await new Promise((r) => ws.once("open", r));
    ws.send(
      JSON.stringify({
        requestId: 1,
        method: "SET",
        uri: "/thermostat-1/climate/setpoint",
        parameters: [{ name: "value", value: 19 }],
      }),
    );
    expect(await until(() => frames[0])).toMatchObject({ type: "SET_RESPONSE", statusCode: 200 });
    ws.close();
  });
});

describe("SSE", () => {
  it("streams notifications and ends the subscription when the client goes away", async () => {
    const before = t.gateway.subscriptionCount;
    const chunks: string[] = [];
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        `${base}${T}/temperature/SUBSCRIBE`,
        { headers: { accept: "text/event-stream" } },
        resolve,
      );
      req.on("error", reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/event-stream");
    res.setEncoding("utf8");
    res.on("data", (c: string) => chunks.push(c));
    await until(() => (chunks.join("").includes("event: subscribed") ? true : undefined));
    expect(t.gateway.subscriptionCount).toBe(before + 1);
    t.scheduler.advance(1000); // the simulator ticks: temperature changes
    const text = await until(() => {
      const s = chunks.join("");
      return s.includes("event: notification") ? s : undefined;
    });
    const data = text
      .split("\n")
      .find((l) => l.startsWith("data: ") && l.includes("SUBSCRIPTION_NOTIFICATION"))!;
    expect(JSON.parse(data.slice(6))).toMatchObject({
      type: "SUBSCRIPTION_NOTIFICATION",
      uri: "/thermostat-1/climate/temperature",
    });
    res.destroy();
    await until(() => (t.gateway.subscriptionCount === before ? true : undefined));
  });
  it("the number of open streams is capped (429 in the envelope)", async () => {
    const t4 = await startTestGateway({ maxSseStreams: 1 });
    const { port } = await t4.http.start({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${port}${T}/temperature/SUBSCRIBE`;
    const first = await new Promise<IncomingMessage>((resolve) => {
      request(url, { headers: { accept: "text/event-stream" } }, resolve).end();
    });
    expect(first.statusCode).toBe(200);
    const second = await fetch(url, { headers: { accept: "text/event-stream" } });
    expect(second.status).toBe(429);
    expect(((await second.json()) as any).error.code).toBe("RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT");
    first.destroy();
    await t4.http.stop({ drainMs: 500 });
    await t4.gateway.stop();
  });
  it("a hidden resource answers 404 instead of a stream", async () => {
    const r = await fetch(`${base}/sensinact/providers/vault-1/services/contact/resources/open/SUBSCRIBE`, {
      headers: { accept: "text/event-stream" },
    });
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).type).toBe("SUBSCRIBE_RESPONSE");
  });
});

describe("HTTP callbacks", () => {
  let receiver: Server;
  const got: any[] = [];
  let failFirst = 1;
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        if (failFirst-- > 0) {
          res.statusCode = 503;
          res.end();
          return;
        }
        got.push(JSON.parse(body));
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    await new Promise((r) => receiver.close(r));
  });
  it("POSTs notifications to the callback, retrying a failure", async () => {
    const port = (receiver.address() as AddressInfo).port;
    const r = await fetch(`${base}${T}/setpoint/SUBSCRIBE`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ parameters: [{ name: "callback", value: `http://127.0.0.1:${port}/hook` }] }),
    });
    expect(r.status).toBe(200);
    const env: any = await r.json();
    const id = env.response.subscriptionId;
    await setpoint(27.5);
    const n = await until(() => got[0]);
    expect(n).toMatchObject({ type: "SUBSCRIPTION_NOTIFICATION", subscriptionId: id, value: 27.5 });
    const un = await fetch(`${base}${T}/setpoint/UNSUBSCRIBE`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ parameters: [{ name: "subscriptionId", value: id }] }),
    });
    expect(un.status).toBe(200);
    await setpoint(28);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toHaveLength(1);
  });
});

describe("shutdown", () => {
  it("drains an in-flight request, closes WebSockets and SSE, and stops listening", async () => {
    let jobStarted = false;
    const t2 = await startTestGateway({
      jobs: {
        run: async () => {
          jobStarted = true;
          await new Promise((r) => setTimeout(r, 300));
          return { done: true };
        },
      },
    });
    const { port } = await t2.http.start({ host: "127.0.0.1", port: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/sensinact/ws`);
    await new Promise((r) => ws.once("open", r));
    const wsClosed = new Promise<number>((r) =>
      ws.once("close", (c) => {
        r(c);
      }),
    );
    const sse = await new Promise<IncomingMessage>((resolve) => {
      request(
        `http://127.0.0.1:${port}${T}/temperature/SUBSCRIBE`,
        { headers: { accept: "text/event-stream" } },
        resolve,
      ).end();
    });
    const sseEnded = new Promise<void>((r) => {
      sse.on("end", () => {
        r();
      });
      sse.on("close", () => {
        r();
      });
      sse.resume();
    });
    const inflight = fetch(`http://127.0.0.1:${port}/api/v1/jobs/slow/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${t2.tokens.admin}` },
    });
    await until(() => (jobStarted ? true : undefined));
    const stopStart = Date.now();
    const stopped = t2.http.stop();
    const r = await inflight;
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ job: "slow", result: { done: true } });
    await stopped;
    expect(Date.now() - stopStart).toBeLessThan(2000);
    expect(await wsClosed).toBeGreaterThan(0);
    await sseEnded;
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
    await t2.gateway.stop();
  });
  it("destroys a connection that stays open past the drain delay", async () => {
    const t3 = await startTestGateway();
    const { port } = await t3.http.start({ host: "127.0.0.1", port: 0 });
    // A client that upgrades and then never answers the close handshake.
    const { connect } = await import("node:net");
    const raw = connect(port, "127.0.0.1");
    await new Promise((r) => raw.once("connect", r));
    raw.write(
      "GET /sensinact/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await new Promise((r) => raw.once("data", r));
    const closed = new Promise((r) => raw.once("close", r));
    const start = Date.now();
    await t3.http.stop({ drainMs: 200 });
    await closed;
    expect(Date.now() - start).toBeLessThan(5000);
    await t3.gateway.stop();
  });
});
