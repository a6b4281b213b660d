import { beforeEach, describe, expect, it } from "vitest";
import type { FederationStores } from "../../../src/federation/stores.js";
import { FakeClock, newBox, seedGraph, type StoreBackend } from "./backend.js";

export function appStoreContract(backend: StoreBackend): void {
  describe(`AppStore (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    beforeEach(async () => {
      clock = new FakeClock();
      s = await backend.stores(newBox(), clock);
    });

    it("adds apps with increasing ids and finds them by id and JID", async () => {
      const a = await s.apps.add({ name: "beta", jid: "beta@fed.local", description: "partner" });
      const b = await s.apps.add({ name: "gamma", jid: "gamma@fed.local" });
      expect(a).toEqual({
        id: a.id,
        name: "beta",
        jid: "beta@fed.local",
        description: "partner",
        defaultUserId: null,
        createdAt: clock.t,
      });
      expect(b.id).toBeGreaterThan(a.id);
      expect(b.description).toBeNull();
      expect(await s.apps.get(a.id)).toEqual(a);
      expect(await s.apps.getByJid("gamma@fed.local")).toEqual(b);
      expect(await s.apps.getByJid("nobody@fed.local")).toBeNull();
      expect(await s.apps.get(999_999)).toBeNull();
      expect((await s.apps.list()).map((x) => x.jid)).toEqual(["beta@fed.local", "gamma@fed.local"]);
    });

    it("refuses a duplicate JID with RELAIS_ERR_DB_CONFLICT and keeps the first", async () => {
      await s.apps.add({ name: "beta", jid: "beta@fed.local" });
      await expect(s.apps.add({ name: "other", jid: "beta@fed.local" })).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_CONFLICT",
      });
      expect((await s.apps.list()).map((a) => a.name)).toEqual(["beta"]);
    });

    it("sets a default user, refuses a missing one, and clears it when the user goes", async () => {
      const u = await s.users.add({ federatedId: "bob@example.org" });
      const a = await s.apps.add({ name: "beta", jid: "beta@fed.local", defaultUserId: u.id });
      expect(a.defaultUserId).toBe(u.id);
      await expect(s.apps.setDefaultUser(a.id, 999_999)).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_REFERENCE",
      });
      await expect(
        s.apps.add({ name: "x", jid: "x@fed.local", defaultUserId: 999_999 }),
      ).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_REFERENCE",
      });
      await expect(s.apps.setDefaultUser(999_999, null)).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_NOT_FOUND",
      });
      expect(await s.users.remove(u.id)).toBe(true);
      expect((await s.apps.get(a.id))?.defaultUserId).toBeNull();
    });

    it("removes an unused app; refuses one in use with RELAIS_ERR_DB_IN_USE", async () => {
      const g = await seedGraph(s);
      await expect(s.apps.remove(g.local.id)).rejects.toMatchObject({ code: "RELAIS_ERR_DB_IN_USE" });
      await s.consumers.add({ userAppId: g.ua.id, consumerAppId: g.beta.id, selector: "meter-*/power/*" });
      await expect(s.apps.remove(g.beta.id)).rejects.toMatchObject({ code: "RELAIS_ERR_DB_IN_USE" });
      const spare = await s.apps.add({ name: "spare", jid: "spare@fed.local" });
      expect(await s.apps.remove(spare.id)).toBe(true);
      expect(await s.apps.remove(spare.id)).toBe(false);
      expect((await s.apps.list()).map((a) => a.name)).toEqual(["local", "beta"]);
    });
  });
}

export function userStoreContract(backend: StoreBackend): void {
  describe(`UserStore (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    beforeEach(async () => {
      clock = new FakeClock();
      s = await backend.stores(newBox(), clock);
    });

    it("adds, finds, lists and removes users", async () => {
      const a = await s.users.add({ federatedId: "alice@example.org", displayName: "Alice" });
      const b = await s.users.add({ federatedId: "bob@example.org" });
      expect(a).toEqual({
        id: a.id,
        federatedId: "alice@example.org",
        displayName: "Alice",
        createdAt: clock.t,
      });
      expect(b.displayName).toBeNull();
      expect(await s.users.get(b.id)).toEqual(b);
      expect(await s.users.getByFederatedId("alice@example.org")).toEqual(a);
      expect(await s.users.getByFederatedId("carol@example.org")).toBeNull();
      expect((await s.users.list()).map((u) => u.id)).toEqual([a.id, b.id]);
      expect(await s.users.remove(b.id)).toBe(true);
      expect(await s.users.remove(b.id)).toBe(false);
      expect(await s.users.list()).toEqual([a]);
    });

    it("refuses a duplicate federated id, and removing a user with credentials", async () => {
      const g = await seedGraph(s);
      await expect(s.users.add({ federatedId: "alice@example.org" })).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_CONFLICT",
      });
      await expect(s.users.remove(g.alice.id)).rejects.toMatchObject({ code: "RELAIS_ERR_DB_IN_USE" });
      expect(await s.users.list()).toHaveLength(1);
    });
  });
}
