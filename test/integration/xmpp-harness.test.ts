/**
 * The harness helpers the fault and federation tests rely on: registration, the independent
 * sender, the offline counter, the second vhost.
 */
import { expect, inject, it } from "vitest";
import { EjabberdApi, loginProbe } from "../support/ejabberd.js";

const info = inject("ejabberd");
const api = new EjabberdApi(info);

it("registers accounts on both vhosts that can log in, and refuses a wrong password", async () => {
  const a = await api.freshAccount("h");
  const o = await api.freshAccount("h", info.otherDomain);
  expect(o.jid.endsWith(`@${info.otherDomain}`)).toBe(true);
  expect(await loginProbe(info.port, info.domain, a.user, a.password)).toBe("ok");
  expect(await loginProbe(info.port, info.otherDomain, o.user, o.password)).toBe("ok");
  expect(await loginProbe(info.port, info.domain, a.user, "wrong")).toMatch(/^fail/);
});

it("counts messages the independent sender left in offline storage", async () => {
  const to = await api.freshAccount("h");
  expect(await api.offlineCount(to.user)).toBe(0);
  await api.sendMessage({ from: `alpha@${info.domain}`, to: to.jid, body: "one" });
  await api.sendMessage({ from: `delta@${info.otherDomain}`, to: to.jid, body: "two" });
  expect(await api.offlineCount(to.user)).toBe(2);
});
