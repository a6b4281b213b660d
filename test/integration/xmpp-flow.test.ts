/**
 * XmppTransport flow control: a slow handler stops the socket from being read (TCP pushes back
 * on the server) instead of piling up unbounded handler calls; nothing is lost meanwhile.
 */
import { afterEach, expect, inject, it } from "vitest";
import { XmppTransport } from "../../src/adapters/xmpp/xmpp-transport.js";
import { record, until } from "../contract/transport.contract.js";
import { EjabberdApi } from "../support/ejabberd.js";

const info = inject("ejabberd");
const api = new EjabberdApi(info);
const live: XmppTransport[] = [];

afterEach(async () => {
  await Promise.all(live.splice(0).map((t) => t.stop()));
});

async function open(maxInFlight?: number): Promise<XmppTransport> {
  const acct = await api.freshAccount("flow");
  const t = new XmppTransport({
    service: info.service,
    jid: acct.jid,
    password: acct.password,
    ...(maxInFlight === undefined ? {} : { maxInFlight }),
  });
  live.push(t);
  await t.start();
  return t;
}

it(
  "bounds pending handler calls with maxInFlight and delivers everything once released",
  { timeout: 30_000 },
  async () => {
    const a = await open();
    const b = await open(4);
    let pending = 0;
    let maxPending = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ra = record(a);
    record(b, async () => {
      pending++;
      maxPending = Math.max(maxPending, pending);
      await gate;
      pending--;
      return { kind: "accepted" };
    });
    const n = 60;
    const text = `[${'{"n":"p/s/r","v":1},'.repeat(500)}{"n":"p/s/r","v":2}]`; // ~10 KiB: few per TCP read
    for (let i = 0; i < n; i++) await a.send({ id: `f${i}`, to: b.jid, body: text });
    await until(() => pending >= 4, 5_000, "handlers busy");
    await new Promise((r) => setTimeout(r, 500));
    console.log(`flow: ${maxPending} handler calls pending at most with maxInFlight=4 (${n} sent)`);
    expect(maxPending).toBeLessThan(n / 2);
    release();
    await until(() => ra.receipts.length === n, 15_000, "all receipts");
    expect(new Set(ra.receipts.map((r) => r.id)).size).toBe(n);
  },
);

it(
  "delivers large bodies of multi-byte characters intact, however TCP cuts them",
  { timeout: 30_000 },
  async () => {
    const a = await open();
    const b = await open();
    const rb = record(b);
    // 2-byte and 4-byte characters, ~48 KiB per body: socket reads end inside characters.
    const bodies = Array.from({ length: 20 }, (_, i) => `${"°".repeat(12_000 + i)}|${"𝄞".repeat(6_000 + i)}`);
    for (let i = 0; i < bodies.length; i++) await a.send({ id: `u${i}`, to: b.jid, body: bodies[i]! });
    await until(() => rb.messages.length === bodies.length, 15_000, "all messages");
    for (let i = 0; i < bodies.length; i++) expect(rb.messages[i]!.body).toBe(bodies[i]);
  },
);
