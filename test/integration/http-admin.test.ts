/** The admin API (/api/v1) over the memory federation stores and the real core, through inject(). */
import { encode as cborEncode } from "cbor-x";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { senmlIngestRoute } from "../../src/connectors/senml-ingest/senml-ingest.js";
import { createMemoryStores } from "../../src/federation/memory-stores.js";
import type { FederationStores } from "../../src/federation/stores.js";
import { PlainTestCipher } from "../../src/federation/testing/fixtures.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "./http-support.js";

let t: TestGateway;
let stores: FederationStores;
const jobsRun: string[] = [];
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  stores = createMemoryStores(new PlainTestCipher());
  const registry = new Registry();
  t = await startTestGateway((gateway) => ({
    senmlIngest: senmlIngestRoute(gateway),
    admin: stores,
    metricsRegistry: registry,
    queueDepth: async () => ({
      outbox: await stores.outbox.countByStatus(),
      inbox: await stores.inbox.countByStatus(),
    }),
    xmppState: () => "online",
    jobs: {
      names: ["push-outbox", "fetch-outbox", "fetch-inbox"],
      run: async (name) => {
        jobsRun.push(name);
        return { processed: 0 };
      },
    },
  }));
});
afterAll(async () => {
  await t.http.stop();
  await t.gateway.stop();
});

const req = (method: string, url: string, payload?: unknown, headers: Record<string, string> = admin) =>
  t.http.app.inject({
    method: method as "GET",
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });

describe("apps, users, user apps", () => {
  it("creates, lists, reads and removes apps and users; conflicts are 409", async () => {
    const user = await req("POST", "/api/v1/users", {
      federatedId: "alice@example.org",
      displayName: "Alice",
    });
    expect(user.statusCode).toBe(201);
    const app = await req("POST", "/api/v1/apps", {
      name: "beta",
      jid: "beta@fed.local",
      defaultUserId: user.json().id,
    });
    expect(app.statusCode).toBe(201);
    expect(app.json()).toMatchObject({ name: "beta", jid: "beta@fed.local", defaultUserId: user.json().id });
    expect((await req("POST", "/api/v1/apps", { name: "beta2", jid: "beta@fed.local" })).statusCode).toBe(
      409,
    );
    expect((await req("POST", "/api/v1/apps", { name: "x", jid: "not a jid" })).statusCode).toBe(400);
    expect((await req("GET", "/api/v1/apps")).json()).toHaveLength(1);
    expect((await req("GET", `/api/v1/apps/${app.json().id}`)).json().jid).toBe("beta@fed.local");
    expect((await req("GET", "/api/v1/apps/9999")).statusCode).toBe(404);
    const patched = await req("PATCH", `/api/v1/apps/${app.json().id}`, { defaultUserId: null });
    expect(patched.json().defaultUserId).toBeNull();
    expect((await req("GET", "/api/v1/users")).json()).toHaveLength(1);
    const other = await req("POST", "/api/v1/apps", { name: "gamma", jid: "gamma@fed.local" });
    expect((await req("DELETE", `/api/v1/apps/${other.json().id}`)).json()).toEqual({ removed: true });
    expect((await req("DELETE", `/api/v1/apps/${other.json().id}`)).statusCode).toBe(404);
  });
  it("user app credentials are write-only", async () => {
    const users = (await req("GET", "/api/v1/users")).json();
    const apps = (await req("GET", "/api/v1/apps")).json();
    const url = `/api/v1/users/${users[0].id}/apps/${apps[0].id}`;
    const set = await req("PUT", url, { credentials: { username: "alice", password: "canary-S3cr3t" } });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ userId: users[0].id, appId: apps[0].id, credentialsSet: true });
    for (const r of [
      set,
      await req("GET", url),
      await req("GET", `/api/v1/users/${users[0].id}/apps`),
      await req("GET", "/api/v1/audit"),
    ])
      expect(r.body).not.toContain("canary-S3cr3t");
    expect((await req("GET", `/api/v1/users/${users[0].id}/apps`)).json()[0].credentialsSet).toBe(true);
    // The store does hold them (for the federation), the API just never shows them.
    const ua = await stores.userApps.find(users[0].id, apps[0].id);
    expect(await stores.userApps.credentials(ua!.id)).toEqual({
      username: "alice",
      password: "canary-S3cr3t",
    });
    const cleared = await req("PUT", url, { credentials: null });
    expect(cleared.json().credentialsSet).toBe(false);
    expect(
      (await req("PUT", `/api/v1/users/${users[0].id}/apps/9999`, { credentials: null })).statusCode,
    ).toBe(400);
  });
});

describe("consumers and config", () => {
  it("manages consumers", async () => {
    const users = (await req("GET", "/api/v1/users")).json();
    const apps = (await req("GET", "/api/v1/apps")).json();
    const ua = (
      await req("PUT", `/api/v1/users/${users[0].id}/apps/${apps[0].id}`, { credentials: { token: "x" } })
    ).json();
    const c = await req("POST", "/api/v1/consumers", {
      userAppId: ua.id,
      consumerAppId: apps[0].id,
      selector: "meter-*/power/*",
    });
    expect(c.statusCode).toBe(201);
    expect(c.json()).toMatchObject({ selector: "meter-*/power/*", enabled: true });
    const off = await req("PATCH", `/api/v1/consumers/${c.json().id}`, { enabled: false });
    expect(off.json().enabled).toBe(false);
    expect((await req("GET", "/api/v1/consumers?enabled=true")).json()).toHaveLength(0);
    expect((await req("GET", "/api/v1/consumers?enabled=false")).json()).toHaveLength(1);
    expect(
      (await req("POST", "/api/v1/consumers", { userAppId: 999, consumerAppId: apps[0].id, selector: "*" }))
        .statusCode,
    ).toBe(400);
    expect((await req("DELETE", `/api/v1/consumers/${c.json().id}`)).statusCode).toBe(200);
  });
  it("gets and sets config; secret values are masked", async () => {
    expect(
      (await req("PUT", "/api/v1/config/schedule.push-outbox", { value: "*/5 * * * *" })).json(),
    ).toMatchObject({
      key: "schedule.push-outbox",
      value: "*/5 * * * *",
    });
    const pw = await req("PUT", "/api/v1/config/xmpp.password", { value: "hunter2" });
    expect(pw.json().value).toBe("***");
    const all = await req("GET", "/api/v1/config");
    expect(all.body).not.toContain("hunter2");
    expect((await req("GET", "/api/v1/config/schedule.push-outbox")).json().value).toBe("*/5 * * * *");
    expect((await req("GET", "/api/v1/config/nope")).statusCode).toBe(404);
    expect((await req("PUT", "/api/v1/config/bad key!", { value: 1 })).statusCode).toBe(400);
    expect((await req("DELETE", "/api/v1/config/schedule.push-outbox")).json()).toEqual({ removed: true });
  });
});

describe("outbox, inbox, jobs, audit", () => {
  it("lists by status with keyset paging, shows dead letters, retries", async () => {
    await stores.outbox.enqueue(
      Array.from({ length: 5 }, (_, i) => ({
        messageId: `m${i}`,
        consumerId: null,
        toJid: "beta@fed.local",
        federatedUser: null,
        body: "[]",
        recordCount: 1,
      })),
    );
    await stores.outbox.markDead("m4", "poison");
    const p1 = await req("GET", "/api/v1/outbox?status=pending&limit=2");
    expect(p1.statusCode).toBe(200);
    expect(p1.json().items.map((m: { messageId: string }) => m.messageId)).toEqual(["m0", "m1"]);
    const p2 = await req("GET", `/api/v1/outbox?status=pending&limit=2&afterId=${p1.json().nextAfterId}`);
    expect(p2.json().items.map((m: { messageId: string }) => m.messageId)).toEqual(["m2", "m3"]);
    const p3 = await req("GET", `/api/v1/outbox?status=pending&limit=2&afterId=${p2.json().nextAfterId}`);
    expect(p3.json()).toEqual({ items: [], nextAfterId: null });
    const dead = await req("GET", "/api/v1/outbox/dead");
    expect(dead.json().items).toHaveLength(1);
    expect(dead.json().items[0]).toMatchObject({ messageId: "m4", status: "dead", lastError: "poison" });
    expect((await req("GET", "/api/v1/outbox/counts")).json()).toMatchObject({ pending: 4, dead: 1 });
    expect((await req("GET", "/api/v1/outbox?status=bogus")).statusCode).toBe(400);
    expect((await req("GET", "/api/v1/outbox?limit=0")).statusCode).toBe(400);
    expect((await req("POST", "/api/v1/outbox/retry", {})).json()).toEqual({ retried: 1 });
    expect((await req("GET", "/api/v1/outbox/counts")).json()).toMatchObject({ pending: 5, dead: 0 });
  });
  it("inbox lists and retries", async () => {
    await stores.inbox.insertIfAbsent({
      senderJid: "beta@fed.local",
      messageId: "i1",
      federatedUser: null,
      consumerRef: null,
      body: "[]",
      status: "rejected",
      lastError: "no right",
    });
    const r = await req("GET", "/api/v1/inbox?status=rejected,dead");
    expect(r.json().items).toHaveLength(1);
    expect((await req("POST", "/api/v1/inbox/retry", { ids: [r.json().items[0].id] })).json()).toEqual({
      retried: 1,
    });
    expect((await req("GET", "/api/v1/inbox/counts")).json()).toMatchObject({ pending: 1 });
  });
  it("runs known jobs, 404 for others", async () => {
    const r = await req("POST", "/api/v1/jobs/fetch-outbox/run");
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ job: "fetch-outbox", result: { processed: 0 } });
    expect(jobsRun).toEqual(["fetch-outbox"]);
    const unknown = await req("POST", "/api/v1/jobs/rm-rf/run");
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe("RELAIS_ERR_HTTP_UNKNOWN_JOB");
  });
  it("audits admin changes with the caller as actor", async () => {
    const r = await req("GET", "/api/v1/audit?action=admin.app.add");
    expect(r.statusCode).toBe(200);
    const entries = r.json();
    expect(entries.map((e: { subject: string }) => e.subject)).toEqual(["gamma@fed.local", "beta@fed.local"]);
    expect(entries[1]).toMatchObject({ actor: "relais-admin", action: "admin.app.add", outcome: "ok" });
  });
});

describe("accounts, tokens, policy", () => {
  it("creates an account (password write-only) and a token that then authenticates", async () => {
    const a = await req("POST", "/api/v1/accounts", {
      name: "carol",
      level: "AUTHENTICATED",
      password: "carol-password",
    });
    expect(a.statusCode).toBe(201);
    expect(a.body).not.toContain("carol-password");
    expect(a.json()).toMatchObject({ name: "carol", hasPassword: true });
    const tok = await req("POST", "/api/v1/tokens", { account: "carol", label: "ci" });
    expect(tok.statusCode).toBe(201);
    const token = tok.json().token;
    const list = await req("GET", "/api/v1/tokens?account=carol");
    expect(list.body).not.toContain(token);
    expect(
      (await req("GET", "/sensinact/providers", undefined, { authorization: `Bearer ${token}` })).statusCode,
    ).toBe(200);
    expect(
      (await req("GET", "/api/v1/apps", undefined, { authorization: `Bearer ${token}` })).statusCode,
    ).toBe(403);
    expect((await req("DELETE", `/api/v1/tokens/${tok.json().info.id}`)).statusCode).toBe(200);
    expect(
      (await req("GET", "/sensinact/providers", undefined, { authorization: `Bearer ${token}` })).statusCode,
    ).toBe(401);
    expect(
      (await req("POST", "/api/v1/accounts", { name: "carol", level: "AUTHENTICATED" })).statusCode,
    ).toBe(409);
  });
  it("reads and replaces the policy; an invalid one is 400", async () => {
    const p = await req("GET", "/api/v1/policy");
    expect(p.json()).toMatchObject({ version: 1 });
    expect((await req("PUT", "/api/v1/policy", { version: 1, root: { bogus: true } })).statusCode).toBe(400);
    expect((await req("PUT", "/api/v1/policy", p.json())).statusCode).toBe(200);
  });
});

describe("metrics", () => {
  it("exposes HTTP, access method, subscription, queue and XMPP metrics to ADMIN only", async () => {
    expect((await req("GET", "/metrics", undefined, {})).statusCode).toBe(401);
    expect(
      (await req("GET", "/metrics", undefined, { authorization: `Bearer ${t.tokens.alice}` })).statusCode,
    ).toBe(403);
    await req("GET", "/sensinact/providers/meter-1/services/power/resources/active/GET", undefined, {});
    const m = await req("GET", "/metrics");
    expect(m.statusCode).toBe(200);
    expect(m.headers["content-type"]).toContain("text/plain");
    for (const needle of [
      "relais_http_requests_total{",
      "relais_http_request_duration_seconds_bucket{",
      'relais_http_access_methods_total{method="GET",status="200"}',
      'relais_http_subscriptions{channel="ws"}',
      'relais_queue_messages{queue="outbox",status="pending"}',
      'relais_xmpp_state{state="online"} 1',
      'relais_http_job_runs_total{job="fetch-outbox",result="ok"} 1',
    ])
      expect(m.body).toContain(needle);
  });
});

describe("SenML ingest", () => {
  const url = "/api/v1/ingest/senml";
  it("applies a JSON pack for a caller with the right", async () => {
    const r = await t.http.app.inject({
      method: "POST",
      url,
      headers: { ...admin, "content-type": "application/senml+json" },
      payload: JSON.stringify([{ bn: "ext-1/env/", n: "temp", u: "Cel", v: 21.5 }]),
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().result).toMatchObject({ accepted: 1, rejected: [] });
    const g = await req("GET", "/sensinact/providers/ext-1/services/env/resources/temp/GET", undefined, {});
    expect(g.json().response.value).toBe(21.5);
  });
  it("applies a CBOR pack (RFC 8428 integer labels)", async () => {
    const pack = [
      new Map<number, unknown>([
        [-2, "ext-1/env/"],
        [0, "hum"],
        [2, 40],
      ]),
    ];
    const r = await t.http.app.inject({
      method: "POST",
      url,
      headers: { ...admin, "content-type": "application/senml+cbor" },
      payload: Buffer.from(cborEncode(pack)),
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().result.accepted).toBe(1);
    expect(
      (await req("GET", "/sensinact/providers/ext-1/services/env/resources/hum/GET", undefined, {})).json()
        .response.value,
    ).toBe(40);
  });
  it("rejects per record without the right, 401 anonymous, 400 invalid pack, 415 other types", async () => {
    const bob = await t.http.app.inject({
      method: "POST",
      url,
      headers: { authorization: `Bearer ${t.tokens.bob}`, "content-type": "application/senml+json" },
      payload: JSON.stringify([{ n: "ext-2/env/temp", v: 1 }]),
    });
    expect(bob.statusCode).toBe(200);
    expect(bob.json().result.accepted).toBe(0);
    expect(bob.json().result.rejected[0].code).toMatch(/^RELAIS_ERR_SECURITY_/);
    const anon = await t.http.app.inject({
      method: "POST",
      url,
      headers: { "content-type": "application/senml+json" },
      payload: "[]",
    });
    expect(anon.statusCode).toBe(401);
    const bad = await t.http.app.inject({
      method: "POST",
      url,
      headers: { ...admin, "content-type": "application/senml+json" },
      payload: "{nope",
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toMatch(/^RELAIS_ERR_SENML_/);
    const xml = await t.http.app.inject({
      method: "POST",
      url,
      headers: { ...admin, "content-type": "text/plain" },
      payload: "x",
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json().error.code).toBe("RELAIS_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE");
  });
});
