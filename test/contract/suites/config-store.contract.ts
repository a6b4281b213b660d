import { beforeEach, describe, expect, it } from "vitest";
import type { FederationStores } from "../../../src/federation/stores.js";
import { FakeClock, newBox, type StoreBackend } from "./backend.js";

export function configStoreContract(backend: StoreBackend): void {
  describe(`ConfigStore (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    beforeEach(async () => {
      clock = new FakeClock();
      s = await backend.stores(newBox(), clock);
    });

    it("sets, gets, replaces, lists in key order and deletes JSON values", async () => {
      expect(await s.config.get("xmpp.jid")).toBeNull();
      const e = await s.config.set("xmpp.jid", "alpha@fed.local");
      expect(e).toEqual({ key: "xmpp.jid", value: "alpha@fed.local", updatedAt: clock.t });
      clock.advance(1000);
      await s.config.set("xmpp.jid", { jid: "a@b", n: [1, 2, { x: null }], ok: true });
      await s.config.set("a.first", 42);
      expect((await s.config.get("xmpp.jid"))?.value).toEqual({
        jid: "a@b",
        n: [1, 2, { x: null }],
        ok: true,
      });
      expect((await s.config.get("xmpp.jid"))?.updatedAt).toBe(clock.t);
      expect((await s.config.list()).map((c) => c.key)).toEqual(["a.first", "xmpp.jid"]);
      expect(await s.config.delete("a.first")).toBe(true);
      expect(await s.config.delete("a.first")).toBe(false);
      expect(await s.config.list()).toHaveLength(1);
    });

    it("stores null and injection-looking strings as plain data", async () => {
      await s.config.set("k'; DROP TABLE config; --", "x'); DELETE FROM apps; --");
      await s.config.set("nothing", null);
      expect((await s.config.get("k'; DROP TABLE config; --"))?.value).toBe("x'); DELETE FROM apps; --");
      expect((await s.config.get("nothing"))?.value).toBeNull();
      expect(await s.config.list()).toHaveLength(2);
    });
  });
}
