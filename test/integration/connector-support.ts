/**
 * Fixtures for the connector integration tests: the core Gateway with in-memory stores, a real
 * HTTP server on 127.0.0.1:0, the real Mosquitto broker on 127.0.0.1:1883, a TCP proxy to cut
 * connections, and a logger that records what was logged (codes are asserted, not text).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTcpServer, connect as tcpConnect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { connectAsync, type MqttClient } from "mqtt";
import { Gateway } from "../../src/core/gateway.js";
import { MemoryValueStore } from "../../src/core/model/memory-value-store.js";
import { MemorySecurityStore } from "../../src/core/security/memory-security-store.js";
import { InsecureTestCrypto } from "../../src/core/testing/fakes.js";
import { systemClock, type Logger } from "../../src/core/ports.js";
import { principal, type Principal } from "../../src/core/security/principal.js";

export const MQTT_URL = "mqtt://127.0.0.1:1883";
export const ADMIN: Principal = principal("admin", "ADMIN");

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[]; codes(): string[] } {
  const make = (bindings: Record<string, unknown>): Logger => {
    const log =
      (level: string) =>
      (obj: object, msg?: string): void => {
        lines.push({ level, obj: { ...bindings, ...(obj as Record<string, unknown>) }, msg });
      };
    return {
      debug: log("debug"),
      info: log("info"),
      warn: log("warn"),
      error: log("error"),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return Object.assign(make({}), {
    lines,
    codes: () => lines.map((l) => l.obj.code).filter((c): c is string => typeof c === "string"),
  });
}

export async function makeGateway(logger?: Logger): Promise<Gateway> {
  const securityStore = new MemorySecurityStore();
  await securityStore.putAccount({ name: "admin", level: "ADMIN", passwordHash: null, createdAt: 0 });
  await securityStore.putAccount({ name: "alice", level: "AUTHENTICATED", passwordHash: null, createdAt: 0 });
  const gateway = new Gateway({
    clock: systemClock,
    crypto: new InsecureTestCrypto(),
    valueStore: new MemoryValueStore(),
    securityStore,
    ...(logger ? { logger } : {}),
  });
  await gateway.start();
  return gateway;
}

/** The value of a resource as an admin sees it, or undefined when absent. */
export function valueOf(gateway: Gateway, uri: string): unknown {
  const env = gateway.get(ADMIN, uri) as { response?: { value?: unknown } };
  return env.response?.value;
}

export async function waitFor(cond: () => boolean, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface TestServer {
  url: string;
  port: number;
  requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];
  inFlight: number;
  maxInFlight: number;
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1:0; the handler can be swapped during a test. */
export async function startHttpServer(handler: TestServer["handler"]): Promise<TestServer> {
  const state: TestServer = {
    url: "",
    port: 0,
    requests: [],
    inFlight: 0,
    maxInFlight: 0,
    handler,
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      state.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      res.on("close", () => state.inFlight--);
      Promise.resolve(state.handler(req, body, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  state.port = addr.port;
  state.url = `http://127.0.0.1:${addr.port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => {
        r();
      });
    });
  return state;
}

export function json(
  res: ServerResponse,
  body: unknown,
  headers: Record<string, string> = {},
  status = 200,
): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** A unique topic prefix per test, so parallel tests on the shared broker never see each other. */
export function topicPrefix(name: string): string {
  return `relais-test/${name}-${randomBytes(4).toString("hex")}`;
}

/** An mqtt.js client on the real broker; fails with the install command when Mosquitto is absent. */
export async function mqttClient(opts: { clientId?: string; clean?: boolean } = {}): Promise<MqttClient> {
  try {
    return await connectAsync(MQTT_URL, {
      connectTimeout: 3_000,
      reconnectPeriod: 0,
      ...(opts.clientId ? { clientId: opts.clientId } : {}),
      ...(opts.clean !== undefined ? { clean: opts.clean } : {}),
    });
  } catch (e) {
    throw new Error(
      `Mosquitto is not reachable on 127.0.0.1:1883 (${(e as Error).message}): ` +
        "install and start it with `apt-get install -y mosquitto && service mosquitto start`",
    );
  }
}

/** A TCP proxy in front of the broker whose connections can be cut, to exercise reconnects. */
export async function tcpProxy(
  targetPort: number,
): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return {
    port: addr.port,
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          r();
        });
      }),
  };
}
