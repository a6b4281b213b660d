import { inject } from "vitest";
import { XmppTransport } from "../../src/adapters/xmpp/xmpp-transport.js";
import type { Transport } from "../../src/core/ports.js";
import { EjabberdApi } from "../support/ejabberd.js";
import { transportContract } from "./transport.contract.js";

transportContract("XmppTransport on ejabberd", () => {
  const info = inject("ejabberd");
  const api = new EjabberdApi(info);
  let live: XmppTransport[] = [];
  const made = new Map<Transport, XmppTransport>();

  async function open(): Promise<XmppTransport> {
    const acct = await api.freshAccount("ct");
    const t = new XmppTransport({ service: info.service, jid: acct.jid, password: acct.password });
    live.push(t);
    made.set(t, t);
    await t.start();
    await t.whenOnline(10_000);
    return t;
  }

  return {
    quietMs: 300,
    async pair() {
      const [a, b] = await Promise.all([open(), open()]);
      return { a, b };
    },
    unknownJid: () => `nobody-${Date.now().toString(36)}@${info.domain}`,
    async inject(to, body) {
      const { jid: from } = await api.freshAccount("plain");
      await api.sendMessage({ from, to, body, type: "chat" });
      return { from };
    },
    async restart(t) {
      const x = made.get(t)!;
      await x.start();
      await x.whenOnline(10_000);
    },
    async cleanup() {
      await Promise.all(live.map((t) => t.stop()));
      live = [];
    },
  };
});
