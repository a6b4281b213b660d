import { beforeEach, describe, expect, it } from "vitest";
import type { FederationStores } from "../../../src/federation/stores.js";
import { FakeClock, newBox, seedGraph, type StoreBackend } from "./backend.js";
import type { SecretBox } from "../../../src/adapters/crypto/secret-box.js";

export function userAppStoreContract(backend: StoreBackend): void {
  describe(`UserAppStore (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    let box: SecretBox;
    beforeEach(async () => {
      clock = new FakeClock();
      box = newBox();
      s = await backend.stores(box, clock);
    });

    it("stores credentials encrypted and returns them only through credentials()", async () => {
      const g = await seedGraph(s);
      expect(g.ua).toEqual({
        id: g.ua.id,
        userId: g.alice.id,
        appId: g.local.id,
        hasCredentials: true,
        keyId: box.keyId,
        createdAt: clock.t,
        updatedAt: clock.t,
      });
      expect(JSON.stringify(await s.userApps.list())).not.toContain("pw");
      expect(await s.userApps.credentials(g.ua.id)).toEqual({ username: "alice", password: "pw" });
      expect(await s.userApps.find(g.alice.id, g.local.id)).toEqual(g.ua);
      expect(await s.userApps.get(g.ua.id)).toEqual(g.ua);
      await expect(s.userApps.credentials(999_999)).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_NOT_FOUND",
      });
    });

    it("set replaces the credentials of the same (user, app) row, or clears them", async () => {
      const g = await seedGraph(s);
      clock.advance(5000);
      const again = await s.userApps.set(g.alice.id, g.local.id, { token: "t-1" });
      expect(again.id).toBe(g.ua.id);
      expect(again.updatedAt).toBe(clock.t);
      expect(again.createdAt).toBe(g.ua.createdAt);
      expect(await s.userApps.credentials(g.ua.id)).toEqual({ token: "t-1" });
      const cleared = await s.userApps.set(g.alice.id, g.local.id, null);
      expect(cleared).toMatchObject({ id: g.ua.id, hasCredentials: false, keyId: null });
      expect(await s.userApps.credentials(g.ua.id)).toBeNull();
      expect(await s.userApps.list()).toHaveLength(1);
    });

    it("lists by user and by app; refuses a missing user or app", async () => {
      const g = await seedGraph(s);
      const bob = await s.users.add({ federatedId: "bob@example.org" });
      const b = await s.userApps.set(bob.id, g.local.id, { account: "b" });
      const c = await s.userApps.set(g.alice.id, g.beta.id, { account: "c" });
      expect((await s.userApps.list()).map((u) => u.id)).toEqual([g.ua.id, b.id, c.id]);
      expect((await s.userApps.list({ userId: g.alice.id })).map((u) => u.id)).toEqual([g.ua.id, c.id]);
      expect((await s.userApps.list({ appId: g.local.id })).map((u) => u.id)).toEqual([g.ua.id, b.id]);
      await expect(s.userApps.set(999_999, g.local.id, { a: 1 })).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_REFERENCE",
      });
      await expect(s.userApps.set(g.alice.id, 999_999, { a: 1 })).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_REFERENCE",
      });
      expect(await s.userApps.list()).toHaveLength(3);
    });

    it("refuses to open credentials with another key (RELAIS_ERR_SECRET_KEY_WRONG)", async () => {
      await seedGraph(s);
      expect(await s.userApps.verifyKey()).toEqual({ checked: 1 });
      const wrong = await backend.stores(newBox(), clock, { keepData: true });
      await expect(wrong.userApps.verifyKey()).rejects.toMatchObject({ code: "RELAIS_ERR_SECRET_KEY_WRONG" });
      const ua = (await wrong.userApps.list())[0]!;
      await expect(wrong.userApps.credentials(ua.id)).rejects.toMatchObject({
        code: "RELAIS_ERR_SECRET_KEY_WRONG",
      });
    });

    it("rotates every row to a new key in one go; the old key no longer opens them", async () => {
      const g = await seedGraph(s);
      const bob = await s.users.add({ federatedId: "bob@example.org" });
      const b = await s.userApps.set(bob.id, g.local.id, { token: "bob-token" });
      await s.userApps.set(bob.id, g.beta.id, null);
      const next = newBox();
      expect(await s.userApps.rotate(next)).toBe(2);
      const rotated = await backend.stores(next, clock, { keepData: true });
      expect(await rotated.userApps.verifyKey()).toEqual({ checked: 2 });
      expect(await rotated.userApps.credentials(b.id)).toEqual({ token: "bob-token" });
      expect((await rotated.userApps.get(g.ua.id))?.keyId).toBe(next.keyId);
      await expect(s.userApps.verifyKey()).rejects.toMatchObject({ code: "RELAIS_ERR_SECRET_KEY_WRONG" });
    });

    it("rotation with a wrong current key changes nothing", async () => {
      await seedGraph(s);
      const wrong = await backend.stores(newBox(), clock, { keepData: true });
      await expect(wrong.userApps.rotate(newBox())).rejects.toMatchObject({
        code: "RELAIS_ERR_SECRET_KEY_WRONG",
      });
      expect(await s.userApps.verifyKey()).toEqual({ checked: 1 });
    });

    it("removes a user app unless a consumer uses it", async () => {
      const g = await seedGraph(s);
      const c = await s.consumers.add({ userAppId: g.ua.id, consumerAppId: g.beta.id, selector: "*" });
      await expect(s.userApps.remove(g.ua.id)).rejects.toMatchObject({ code: "RELAIS_ERR_DB_IN_USE" });
      await s.consumers.remove(c.id);
      expect(await s.userApps.remove(g.ua.id)).toBe(true);
      expect(await s.userApps.remove(g.ua.id)).toBe(false);
    });
  });
}

export function consumerStoreContract(backend: StoreBackend): void {
  describe(`ConsumerStore (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    beforeEach(async () => {
      clock = new FakeClock();
      s = await backend.stores(newBox(), clock);
    });

    it("adds a consumer with defaults and every option", async () => {
      const g = await seedGraph(s);
      const plain = await s.consumers.add({
        userAppId: g.ua.id,
        consumerAppId: g.beta.id,
        selector: "meter-*/power/*",
      });
      expect(plain).toEqual({
        id: plain.id,
        userAppId: g.ua.id,
        consumerAppId: g.beta.id,
        selector: "meter-*/power/*",
        mapping: null,
        enabled: true,
        schedule: null,
        realtime: false,
        lastRunAt: null,
        cursor: null,
        createdAt: clock.t,
      });
      const full = await s.consumers.add({
        userAppId: g.ua.id,
        consumerAppId: g.beta.id,
        selector: "room-1/*/*",
        mapping: { provider: { "room-1": "ext-room-1" } },
        enabled: false,
        schedule: "*/5 * * * *",
        realtime: true,
      });
      expect(await s.consumers.get(full.id)).toEqual(full);
      expect(full).toMatchObject({ enabled: false, realtime: true, schedule: "*/5 * * * *" });
      expect(full.mapping).toEqual({ provider: { "room-1": "ext-room-1" } });
    });

    it("refuses a consumer pointing at a missing user app or app, writing nothing", async () => {
      const g = await seedGraph(s);
      await expect(
        s.consumers.add({ userAppId: 999_999, consumerAppId: g.beta.id, selector: "*" }),
      ).rejects.toMatchObject({ code: "RELAIS_ERR_DB_REFERENCE" });
      await expect(
        s.consumers.add({ userAppId: g.ua.id, consumerAppId: 999_999, selector: "*" }),
      ).rejects.toMatchObject({ code: "RELAIS_ERR_DB_REFERENCE" });
      expect(await s.consumers.list()).toEqual([]);
    });

    it("filters, toggles, records runs and removes", async () => {
      const g = await seedGraph(s);
      const a = await s.consumers.add({ userAppId: g.ua.id, consumerAppId: g.beta.id, selector: "a/*/*" });
      const b = await s.consumers.add({
        userAppId: g.ua.id,
        consumerAppId: g.local.id,
        selector: "b/*/*",
        enabled: false,
      });
      expect((await s.consumers.list({ enabled: true })).map((c) => c.id)).toEqual([a.id]);
      expect((await s.consumers.list({ consumerAppId: g.local.id })).map((c) => c.id)).toEqual([b.id]);
      expect((await s.consumers.list({ userAppId: g.ua.id })).map((c) => c.id)).toEqual([a.id, b.id]);
      expect((await s.consumers.setEnabled(b.id, true)).enabled).toBe(true);
      await s.consumers.recordRun(a.id, clock.t + 60_000, { since: 1234, ids: ["x"] });
      expect(await s.consumers.get(a.id)).toMatchObject({
        lastRunAt: clock.t + 60_000,
        cursor: { since: 1234, ids: ["x"] },
      });
      await expect(s.consumers.recordRun(999_999, 1, null)).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_NOT_FOUND",
      });
      await expect(s.consumers.setEnabled(999_999, true)).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_NOT_FOUND",
      });
      expect(await s.consumers.remove(a.id)).toBe(true);
      expect(await s.consumers.remove(a.id)).toBe(false);
      expect((await s.consumers.list()).map((c) => c.id)).toEqual([b.id]);
    });
  });
}
