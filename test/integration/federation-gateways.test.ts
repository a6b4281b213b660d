/**
 * Two gateways (Gateway + FederationNode each, own PostgreSQL database each) federated through the
 * run's real ejabberd: data both ways with id mapping, an independent XMPP sender, an unknown JID,
 * a replayed stanza (CONTRACTS.md §4; RELIABILITY.md S1–S3).
 */
import { client as xmppClient, xml } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { addConsumer, registerPartner } from "../../src/federation/testing/fixtures.js";
import { EjabberdApi } from "../support/ejabberd.js";
import { freshDatabase, type FreshDatabase } from "../support/postgres.js";
import { GatewayUnderTest, seedRecords, until } from "./federation-harness.js";

const xmpp = inject("ejabberd");
const api = new EjabberdApi(xmpp);
let alpha: GatewayUnderTest;
let beta: GatewayUnderTest;
const dbs: FreshDatabase[] = [];
// Accounts of our own: other test files log in as the shared alpha/beta at the same time.
let alphaAccount: { jid: string; user: string; password: string };

beforeAll(async () => {
  const [da, db] = [await freshDatabase(), await freshDatabase()];
  dbs.push(da, db);
  alphaAccount = await api.freshAccount("galpha");
  const betaAccount = await api.freshAccount("gbeta");
  alpha = new GatewayUnderTest({
    name: "alpha",
    jid: alphaAccount.jid,
    password: alphaAccount.password,
    service: xmpp.service,
    dbUrl: da.url,
  });
  beta = new GatewayUnderTest({
    name: "beta",
    jid: betaAccount.jid,
    password: betaAccount.password,
    service: xmpp.service,
    dbUrl: db.url,
  });
  const a = await alpha.start();
  const b = await beta.start();
  const A = { gateway: a.gateway, stores: a.stores, jid: alpha.jid };
  const B = { gateway: b.gateway, stores: b.stores, jid: beta.jid };
  // each side accepts the other's data under ext-*, and sends its own meters/sensors renamed to ext-*
  await registerPartner(B, { senderJid: alpha.jid, federatedUser: "alice@alpha", account: "partner-alpha" });
  await registerPartner(A, { senderJid: beta.jid, federatedUser: "bob@beta", account: "partner-beta" });
  await addConsumer(A, {
    targetJid: beta.jid,
    federatedUser: "alice@alpha",
    account: "reader",
    selector: "meter-*/s/*",
    mapping: { provider: "ext-*" },
  });
  await addConsumer(B, {
    targetJid: alpha.jid,
    federatedUser: "bob@beta",
    account: "reader",
    selector: "sensor-*",
    mapping: { provider: "ext-beta-*", resource: { temp: "temperature" } },
  });
  await a.node.refresh();
  await b.node.refresh();
}, 60_000);

afterAll(async () => {
  await alpha?.stop();
  await beta?.stop();
  for (const d of dbs) await d.drop();
});

describe("federation between two gateways over ejabberd", () => {
  it("sends data both ways with the id mapping; receipts mark the Outbox rows delivered", async () => {
    const a = alpha.i;
    const b = beta.i;
    seedRecords(a.gateway, 0, 40, { provider: (i) => `meter-${i % 4}` });
    b.gateway.applyUpdates((await import("../../src/federation/testing/fixtures.js")).FIXTURE_OWNER, [
      {
        provider: "sensor-1",
        service: "env",
        resource: "temp",
        value: 19.5,
        timestamp: 1_700_000_000_500,
        metadata: { unit: "Cel" },
      },
    ]);
    await a.node.runJob("push-outbox");
    await b.node.runJob("push-outbox");
    await a.node.runJob("fetch-outbox");
    await b.node.runJob("fetch-outbox");
    await until(
      async () => (await a.stores.outbox.countByStatus()).delivered === 1,
      10_000,
      "alpha row delivered",
    ).catch(async (e: unknown) => {
      console.log(
        await a.stores.outbox.list(),
        await b.stores.inbox.list(),
        a.node.counters,
        b.node.counters,
        await b.stores.audit.list(),
      );
      throw e;
    });
    await until(
      async () => (await b.stores.outbox.countByStatus()).delivered === 1,
      10_000,
      "beta row delivered",
    );
    expect(b.gateway.model.resource("ext-meter-3", "s", "r3")?.value).toBe(3.25);
    expect(b.gateway.model.provider("meter-3")).toBeUndefined();
    const t = a.gateway.model.resource("ext-beta-sensor-1", "env", "temperature");
    expect(t?.value).toBe(19.5);
    expect(t?.metadata.get("unit")?.value).toBe("Cel");
    // durable on the receiving side before the Inbox row is marked applied
    await until(async () => (await b.stores.inbox.countByStatus()).applied === 1, 5_000, "inbox applied");
    const stored = await b.stores.values.loadAll();
    expect(
      stored.filter((s) => s.provider.startsWith("ext-meter-") && s.service === "s" && s.value !== null),
    ).toHaveLength(40);
    const inboxRow = (await b.stores.inbox.list({ status: "applied" }))[0]!;
    expect(inboxRow).toMatchObject({ senderJid: alpha.jid, federatedUser: "alice@alpha" });
    expect(inboxRow.consumerRef).toMatch(/^\d+$/);
  });

  it("applies a plain SenML body sent by an independent client from a registered App JID", async () => {
    const b = beta.i;
    const body = JSON.stringify([{ bn: "ext-phone/gps/", bt: 1_700_000_100, n: "speed", u: "m/s", v: 3.5 }]);
    await api.sendMessage({ from: alpha.jid, to: beta.jid, body, type: "normal" });
    await until(
      () => b.gateway.model.resource("ext-phone", "gps", "speed")?.value === 3.5,
      10_000,
      "value landed",
    );
  });

  it("rejects messages from unknown JIDs and other domains: nothing applied, audited, counted (S1)", async () => {
    const b = beta.i;
    const before = b.node.counters.rejectedUnknownSender;
    const body = '[{"n":"ext-evil/x/y","v":666}]';
    await api.sendMessage({ from: `gamma@${xmpp.domain}`, to: beta.jid, body, type: "normal" });
    await api.sendMessage({ from: `delta@${xmpp.otherDomain}`, to: beta.jid, body, type: "normal" });
    await until(() => b.node.counters.rejectedUnknownSender === before + 2, 10_000, "two rejections");
    await until(
      async () => (await b.stores.audit.list({ action: "federation.message.rejected" })).length >= 2,
      5_000,
      "audited",
    );
    expect(b.gateway.model.provider("ext-evil")).toBeUndefined();
    const audit = await b.stores.audit.list({ action: "federation.message.rejected" });
    expect(audit.map((e) => e.actor).sort()).toEqual(
      expect.arrayContaining([`gamma@${xmpp.domain}`, `delta@${xmpp.otherDomain}`]),
    );
    expect(audit.every((e) => e.outcome === "RELAIS_ERR_FED_UNKNOWN_SENDER")).toBe(true);
  });

  it("applies a stanza replayed 100 times exactly once, acknowledging every copy (S3)", async () => {
    const b = beta.i;
    const client = xmppClient({
      service: xmpp.service,
      domain: xmpp.domain,
      username: alphaAccount.user,
      password: alphaAccount.password,
      resource: "replayer",
    });
    client.on("error", () => undefined);
    const receipts: string[] = [];
    client.on("stanza", (s) => {
      const r = s.getChild("received", "urn:xmpp:receipts");
      if (r) receipts.push(r.attrs.id ?? "");
    });
    await client.start();
    try {
      const eventsBefore = b.events.length;
      const body = JSON.stringify([{ n: "ext-replay/s/r", v: 42, t: 1_700_000_200 }]);
      for (let k = 0; k < 100; k++) {
        await client.send(
          xml(
            "message",
            { to: beta.jid, id: "replay-1", type: "normal" },
            xml("body", {}, body),
            xml("request", { xmlns: "urn:xmpp:receipts" }),
          ),
        );
      }
      await until(() => receipts.length === 100, 15_000, "100 receipts");
      expect(receipts.every((r) => r === "replay-1")).toBe(true);
      expect(b.events.length - eventsBefore).toBe(1);
      expect(b.gateway.model.resource("ext-replay", "s", "r")?.value).toBe(42);
      expect(b.node.counters.duplicates).toBeGreaterThanOrEqual(99);
    } finally {
      await client.stop();
    }
  });
  it("refuses per record what the App's user may not write, with an error stanza to the sender (S2)", async () => {
    const b = beta.i;
    const client = xmppClient({
      service: xmpp.service,
      domain: xmpp.domain,
      username: alphaAccount.user,
      password: alphaAccount.password,
      resource: "s2",
    });
    client.on("error", () => undefined);
    const errors: { id: string; condition: string; text: string }[] = [];
    client.on("stanza", (st) => {
      if (st.is("message") && st.attrs.type === "error") {
        const e = st.getChild("error");
        const cond = e?.getChildElements().find((c) => c.name !== "text")?.name ?? "";
        errors.push({ id: st.attrs.id ?? "", condition: cond, text: e?.getChildText("text") ?? "" });
      }
    });
    await client.start();
    try {
      const rejectedBefore = b.node.counters.recordsRejected;
      // one record the default user may create (ext-*), one it may not (a provider outside its grant)
      const body = JSON.stringify([
        { n: "ext-mixed/s/ok", v: 1, t: 1_700_000_300 },
        { n: "core-secret/s/r", v: 2, t: 1_700_000_300 },
      ]);
      await client.send(
        xml(
          "message",
          { to: beta.jid, id: "s2-1", type: "normal" },
          xml("body", {}, body),
          xml("request", { xmlns: "urn:xmpp:receipts" }),
        ),
      );
      await until(() => errors.some((e) => e.id === "s2-1"), 10_000, "error stanza");
      const err = errors.find((e) => e.id === "s2-1")!;
      expect(err.condition).toBe("forbidden");
      expect(err.text).toMatch(/^RELAIS_ERR_FED_FORBIDDEN_RECORD/);
      expect(b.gateway.model.provider("core-secret")).toBeUndefined();
      expect(b.gateway.model.resource("ext-mixed", "s", "ok")?.value).toBe(1);
      expect(b.node.counters.recordsRejected).toBe(rejectedBefore + 1);
      const audit = await b.stores.audit.list({ action: "federation.message.rejected" });
      expect(audit.some((e) => e.subject === "s2-1" && e.outcome === "RELAIS_ERR_FED_FORBIDDEN_RECORD")).toBe(
        true,
      );
    } finally {
      await client.stop();
    }
  });
});
