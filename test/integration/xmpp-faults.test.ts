/**
 * XmppTransport against a real, private ejabberd that the tests crash, freeze and cut off
 * (RELIABILITY R1, R2, R3, S9). Slow: each fault waits for real timeouts.
 */
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { XmppTransport, type XmppTransportOptions } from "../../src/adapters/xmpp/xmpp-transport.js";
import { isRelaisError } from "../../src/core/errors.js";
import type { TransportState } from "../../src/core/ports.js";
import { record, until } from "../contract/transport.contract.js";
import { startEjabberd, type Ejabberd } from "../support/ejabberd.js";
import { TcpProxy } from "../support/tcp-proxy.js";

let server: Ejabberd;
const fast = { backoff: { initialMs: 200, maxMs: 2_000 } } satisfies Partial<XmppTransportOptions>;

beforeAll(async () => {
  server = await startEjabberd({ accounts: { alpha: "alpha-pw", beta: "beta-pw" } });
});
afterAll(async () => {
  await server.dispose();
});

function transport(user: "alpha" | "beta", extra: Partial<XmppTransportOptions> = {}): XmppTransport {
  return new XmppTransport({
    service: server.info.service,
    jid: `${user}@${server.info.domain}`,
    password: `${user}-pw`,
    ...fast,
    ...extra,
  });
}

function stateLog(t: XmppTransport): { at: number; state: TransportState }[] {
  const log: { at: number; state: TransportState }[] = [];
  t.on("state", (state) => log.push({ at: Date.now(), state }));
  return log;
}

async function roundTrip(a: XmppTransport, b: XmppTransport, id: string): Promise<void> {
  const ra = record(a);
  record(b);
  await a.send({ id, to: b.jid, body: "[]" });
  await until(() => ra.receipts.some((r) => r.id === id), 5_000, `receipt ${id}`);
}

function nonLoopbackIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === "IPv4" && !i.internal) return i.address;
  }
  throw new Error("this test needs a non-loopback IPv4 interface (S9: plaintext outside loopback)");
}

describe("XmppTransport under faults", () => {
  it("reconnects after ejabberd is killed (-9) and restarted (R1)", { timeout: 60_000 }, async () => {
    const a = transport("alpha");
    const b = transport("beta");
    try {
      await a.start();
      await b.start();
      await roundTrip(a, b, "before-kill");
      const states = stateLog(a);
      await server.kill9();
      await until(() => a.state !== "online", 5_000, "loss noticed");
      await expect(a.send({ id: "x", to: b.jid, body: "[]" })).rejects.toSatisfy(
        (e: unknown) => isRelaisError(e) && e.code === "RELAIS_ERR_XMPP_OFFLINE",
      );
      await new Promise((r) => setTimeout(r, 2_000)); // down for a while: several failed attempts
      const restarted = Date.now();
      await server.boot();
      await a.whenOnline(20_000);
      await b.whenOnline(20_000);
      console.log(`R1: online again ${Date.now() - restarted} ms after the restart began`);
      expect(states.map((s) => s.state)).toContain("connecting");
      expect(states.at(-1)?.state).toBe("online");
      await roundTrip(a, b, "after-restart");
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it(
    "detects a frozen server (SIGSTOP) within 15 s and recovers after SIGCONT (R3)",
    { timeout: 90_000 },
    async () => {
      const a = transport("alpha");
      const b = transport("beta");
      try {
        await a.start();
        await b.start();
        const states = stateLog(a);
        const paused = Date.now();
        server.pause();
        try {
          await until(() => a.state !== "online", 16_000, "dead link detection");
          const detected = states.find((s) => s.state !== "online")!.at - paused;
          console.log(`R3: frozen server detected after ${detected} ms`);
          expect(detected).toBeLessThanOrEqual(15_000);
        } finally {
          server.resume();
        }
        await a.whenOnline(30_000);
        await b.whenOnline(30_000);
        await roundTrip(a, b, "after-sigcont");
      } finally {
        await a.stop();
        await b.stop();
      }
    },
  );

  it(
    "detects a black-holed link within 15 s and reconnects when the route is back (R2)",
    { timeout: 90_000 },
    async () => {
      const proxy = await TcpProxy.start({ host: "127.0.0.1", port: server.info.port });
      const a = transport("alpha", { service: `xmpp://127.0.0.1:${proxy.port}` });
      const b = transport("beta");
      try {
        await a.start();
        await b.start();
        await roundTrip(a, b, "through-proxy");
        const states = stateLog(a);
        const holed = Date.now();
        proxy.blackhole();
        await until(() => a.state !== "online", 16_000, "dead link detection");
        const detected = states.find((s) => s.state !== "online")!.at - holed;
        console.log(`R2: black hole detected after ${detected} ms`);
        expect(detected).toBeLessThanOrEqual(15_000);
        proxy.blackhole(false);
        await a.whenOnline(30_000);
        await roundTrip(a, b, "after-black-hole");
        // a cut connection is noticed at once
        const cut = Date.now();
        proxy.cutAll();
        await until(() => a.state !== "online", 2_000, "cut noticed");
        await a.whenOnline(10_000);
        console.log(`R2: cut connection back online after ${Date.now() - cut} ms`);
      } finally {
        await a.stop();
        await b.stop();
        await proxy.stop();
      }
    },
  );

  it(
    "refuses to authenticate in plaintext outside loopback unless allowed (S9)",
    { timeout: 30_000 },
    async () => {
      const ip = nonLoopbackIPv4();
      const proxy = await TcpProxy.start({ host: "127.0.0.1", port: server.info.port }, ip);
      const service = `xmpp://${ip}:${proxy.port}`;
      const refused = transport("alpha", { service });
      const allowed = transport("beta", { service, allowInsecure: true });
      try {
        const err: unknown = await refused.start().catch((e: unknown) => e);
        expect(isRelaisError(err) && err.code).toBe("RELAIS_ERR_XMPP_INSECURE");
        expect(refused.state).toBe("offline");
        await allowed.start();
        expect(allowed.state).toBe("online");
      } finally {
        await refused.stop();
        await allowed.stop();
        await proxy.stop();
      }
    },
  );

  it("fails start on wrong credentials with RELAIS_ERR_XMPP_AUTH_FAILED", async () => {
    const t = transport("alpha", { password: "wrong" });
    const err: unknown = await t.start().catch((e: unknown) => e);
    expect(isRelaisError(err) && err.code).toBe("RELAIS_ERR_XMPP_AUTH_FAILED");
    expect(t.state).toBe("offline");
  });

  it("keeps trying in the background when the server is unreachable at start", async () => {
    const proxy = await TcpProxy.start({ host: "127.0.0.1", port: server.info.port });
    const port = proxy.port;
    await proxy.stop(); // a port where nothing listens
    const t = transport("alpha", { service: `xmpp://127.0.0.1:${port}` });
    const states = stateLog(t);
    try {
      await t.start();
      expect(t.state).toBe("connecting");
      await new Promise((r) => setTimeout(r, 1_000));
      expect(states.filter((s) => s.state === "online")).toEqual([]);
    } finally {
      await t.stop();
    }
    expect(t.state).toBe("offline");
  });
});
