/**
 * End to end with the operator's tools only: two `relais start` processes on a real PostgreSQL
 * server (one database each) and the real ejabberd, configured with the admin CLI and the admin
 * REST API, data ingested as SenML over REST on alpha and read on beta.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import { EjabberdApi } from "../support/ejabberd.js";
import { freshDatabase } from "../support/postgres.js";

const run = promisify(execFile);
const BIN = new URL("../../bin/relais.js", import.meta.url).pathname;
const ADMIN = "e2e-start-admin-token-42";
const KEY = randomBytes(32).toString("base64");
const procs: ChildProcess[] = [];

afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
});

async function relais(env: Record<string, string>, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env, RELAIS_LOG_LEVEL: "warn" },
  });
  return stdout;
}

async function start(
  env: Record<string, string>,
): Promise<{ url: string; proc: ChildProcess; err: () => string }> {
  const proc = spawn(process.execPath, [BIN, "start"], {
    env: {
      ...process.env,
      ...env,
      RELAIS_HTTP_PORT: "0",
      RELAIS_ADMIN_TOKEN: ADMIN,
      RELAIS_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  procs.push(proc);
  let out = "";
  let err = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /listening on (http:\/\/\S+?) /.exec(out);
    if (m) return { url: m[1]!, proc, err: () => err };
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`relais start failed (exit ${proc.exitCode}):\n${out}\n${err.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe("relais start, configured through the CLI, on PostgreSQL and ejabberd", () => {
  it("sends what alpha ingests to beta under the consumer's mapping", async () => {
    const xmpp = inject("ejabberd");
    const api = new EjabberdApi(xmpp);
    const a = await api.freshAccount("alpha");
    const b = await api.freshAccount("beta");
    const [dbA, dbB] = await Promise.all([freshDatabase(), freshDatabase()]);
    const common = {
      RELAIS_SECRET_KEY: KEY,
      RELAIS_XMPP_SERVICE: xmpp.service,
      RELAIS_XMPP_DOMAIN: xmpp.domain,
    };
    const envA = {
      ...common,
      RELAIS_DATABASE_URL: dbA.url,
      RELAIS_XMPP_JID: a.jid,
      RELAIS_XMPP_PASSWORD: a.password,
    };
    const envB = {
      ...common,
      RELAIS_DATABASE_URL: dbB.url,
      RELAIS_XMPP_JID: b.jid,
      RELAIS_XMPP_PASSWORD: b.password,
    };
    const user = "alice@example.org";
    const creds = JSON.stringify({ account: "alice" });

    // alpha: alice's data sensor-* goes to beta, renamed ext-alpha-*
    await relais(envA, "migrate");
    await relais(envA, "user", "add", user);
    await relais(envA, "app", "add", "--jid", a.jid, "--name", "alpha-local");
    await relais(envA, "app", "add", "--jid", b.jid, "--name", "beta");
    await relais(envA, "userapp", "set", "--user", user, "--app", a.jid, "--credentials", creds);
    await relais(
      envA,
      "consumer",
      "add",
      "--user",
      user,
      "--app",
      a.jid,
      "--to",
      b.jid,
      "--selector",
      "sensor-*/env/*",
      "--mapping",
      '{"provider":"ext-alpha-*"}',
      "--realtime",
    );
    const consumers = JSON.parse(await relais(envA, "consumer", "list", "--json")) as unknown[];
    expect(consumers).toHaveLength(1);
    // beta: messages from alpha apply as alice, who may write ext-*
    await relais(envB, "user", "add", user);
    await relais(envB, "app", "add", "--jid", b.jid, "--name", "beta-local");
    await relais(envB, "app", "add", "--jid", a.jid, "--name", "alpha", "--default-user", user);
    await relais(envB, "userapp", "set", "--user", user, "--app", b.jid, "--credentials", creds);

    const alpha = await start(envA);
    const beta = await start(envB);
    try {
      for (const g of [alpha, beta]) {
        expect(
          (
            await call(g.url, "POST", "/api/v1/accounts", {
              name: "alice",
              level: "AUTHENTICATED",
              password: "alice-password-1",
            })
          ).status,
        ).toBeLessThan(300);
      }
      const policy = {
        version: 1,
        root: {
          children: {
            "ext-*": {
              grants: [
                {
                  account: "alice",
                  methods: ["DESCRIBE", "GET", "SET", "CREATE", "SUBSCRIBE", "UNSUBSCRIBE"],
                },
              ],
            },
          },
        },
      };
      expect((await call(beta.url, "PUT", "/api/v1/policy", policy)).status).toBe(200);

      const ingest = await fetch(`${alpha.url}/api/v1/ingest/senml`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/senml+json" },
        body: JSON.stringify([
          { bn: "sensor-1/env/", bt: Date.now() / 1000, n: "temperature", u: "Cel", v: 20.5 },
          { n: "humidity", u: "%RH", v: 41 },
        ]),
      });
      expect(ingest.status, await ingest.clone().text()).toBeLessThan(300);

      const deadline = Date.now() + 30_000;
      let got: { status: number; body: any } = { status: 0, body: null };
      while (Date.now() < deadline) {
        got = await call(
          beta.url,
          "GET",
          "/sensinact/providers/ext-alpha-sensor-1/services/env/resources/temperature/GET",
        );
        if (got.status === 200) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(got.status, JSON.stringify(got.body)).toBe(200);
      expect(got.body.response.value).toBe(20.5);
      expect(got.body.response.unit).toBe("Cel");

      // the operator sees the Outbox row delivered, from the CLI, while the gateway runs
      const deadline2 = Date.now() + 15_000;
      let rows: { status: string }[] = [];
      while (Date.now() < deadline2) {
        rows = JSON.parse(await relais(envA, "outbox", "list", "--json")) as { status: string }[];
        if (rows.some((r) => r.status === "delivered")) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(rows.map((r) => r.status)).toContain("delivered");
    } finally {
      for (const g of [alpha, beta]) g.proc.kill("SIGTERM");
      const codes = await Promise.all([alpha, beta].map((g) => new Promise((r) => g.proc.once("exit", r))));
      expect(codes).toEqual([0, 0]);
    }
  }, 180_000);
});

describe("relais start with the wrong credential key", () => {
  it("refuses to start with the key error code, and never prints the stored password", async () => {
    const db = await freshDatabase();
    const env = { RELAIS_SECRET_KEY: KEY, RELAIS_DATABASE_URL: db.url };
    await relais(env, "user", "add", "carol@example.org");
    await relais(env, "app", "add", "--jid", "local@fed.local");
    await relais(
      env,
      "userapp",
      "set",
      "--user",
      "carol@example.org",
      "--app",
      "local@fed.local",
      "--credentials",
      '{"username":"carol","password":"canary-Zq81x"}',
    );
    const other = randomBytes(32).toString("base64");
    const proc = spawn(process.execPath, [BIN, "start"], {
      env: { ...process.env, ...env, RELAIS_SECRET_KEY: other, RELAIS_HTTP_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.push(proc);
    let all = "";
    proc.stdout.on("data", (d: Buffer) => (all += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (all += d.toString()));
    const code = await new Promise((r) => proc.once("exit", r));
    expect(code).not.toBe(0);
    expect(all).toMatch(/RELAIS_ERR_SECRET_KEY_WRONG/);
    expect(all).not.toContain("canary-Zq81x");
  }, 60_000);
});
