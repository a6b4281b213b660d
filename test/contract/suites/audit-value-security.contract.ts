import { beforeEach, describe, expect, it } from "vitest";
import type {
  Account,
  ApiToken,
  SecurityStore,
  StoredResource,
  ValueStore,
} from "../../../src/core/ports.js";
import type { FederationStores } from "../../../src/federation/stores.js";
import { FakeClock, newBox, type StoreBackend } from "./backend.js";

export function auditLogContract(backend: StoreBackend): void {
  describe(`AuditLog (${backend.name})`, () => {
    let s: FederationStores;
    let clock: FakeClock;
    beforeEach(async () => {
      clock = new FakeClock();
      s = await backend.stores(newBox(), clock);
    });

    it("appends entries and lists them newest first, filtered and paged", async () => {
      await s.audit.append({
        actor: "xmpp:gamma@x",
        action: "fed.reject",
        subject: "m-1",
        outcome: "denied",
        details: { reason: "unknown" },
      });
      clock.advance(1);
      await s.audit.append({
        actor: "cli",
        action: "app.add",
        subject: "beta@fed.local",
        outcome: "ok",
        details: null,
      });
      await s.audit.append({
        actor: "cli",
        action: "app.remove",
        subject: null,
        outcome: "ok",
        details: null,
        at: 5,
      });
      const all = await s.audit.list();
      expect(all.map((e) => e.action)).toEqual(["app.remove", "app.add", "fed.reject"]);
      expect(all[2]).toEqual({
        id: all[2]!.id,
        at: clock.t - 1,
        actor: "xmpp:gamma@x",
        action: "fed.reject",
        subject: "m-1",
        outcome: "denied",
        details: { reason: "unknown" },
      });
      expect(all[0]!.at).toBe(5);
      expect((await s.audit.list({ actor: "cli" })).map((e) => e.action)).toEqual(["app.remove", "app.add"]);
      expect((await s.audit.list({ action: "fed.reject" })).map((e) => e.subject)).toEqual(["m-1"]);
      expect((await s.audit.list({ limit: 1, beforeId: all[0]!.id })).map((e) => e.action)).toEqual([
        "app.add",
      ]);
    });
  });
}

const res = (p: string, s: string, r: string, extra: Partial<StoredResource> = {}): StoredResource => ({
  provider: p,
  service: s,
  resource: r,
  kind: "SENSOR",
  valueType: "float",
  value: 1.5,
  timestamp: 1_700_000_000_123,
  metadata: { unit: { value: "W", timestamp: 1_700_000_000_000 } },
  ...extra,
});

const sortKey = (x: StoredResource) => `${x.provider}/${x.service}/${x.resource}`;
const sorted = (xs: StoredResource[]) => [...xs].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));

export function valueStoreContract(backend: StoreBackend): void {
  describe(`ValueStore (${backend.name})`, () => {
    let v: ValueStore;
    beforeEach(async () => {
      v = await backend.values();
    });

    it("saves a batch, replaces by key (last write wins) and loads every resource back", async () => {
      expect(await v.loadAll()).toEqual([]);
      const a = res("meter-1", "power", "active");
      const b = res("meter-1", "admin", "name", { kind: "PROPERTY", valueType: "string", value: "Meter 1" });
      const c = res("room", "env", "mode", {
        kind: "STATE_VARIABLE",
        valueType: "object",
        value: { mode: "eco", levels: [1, 2] },
        metadata: {},
      });
      const never = res("room", "env", "act", {
        kind: "ACTION",
        valueType: "void",
        value: null,
        timestamp: null,
        metadata: {},
      });
      await v.saveBatch([a, b, c, never]);
      await v.saveBatch([
        { ...a, value: 2.5 },
        { ...a, value: 3.5, timestamp: 1_700_000_001_000 },
      ]);
      await v.saveBatch([]);
      expect(sorted(await v.loadAll())).toEqual(
        sorted([{ ...a, value: 3.5, timestamp: 1_700_000_001_000 }, b, c, never]),
      );
    });

    it("removes a resource, a service or a whole provider", async () => {
      await v.saveBatch([
        res("p1", "s1", "r1"),
        res("p1", "s1", "r2"),
        res("p1", "s2", "r1"),
        res("p2", "s1", "r1"),
      ]);
      await v.remove("p1", "s1", "r1");
      expect((await v.loadAll()).map(sortKey).sort()).toEqual(["p1/s1/r2", "p1/s2/r1", "p2/s1/r1"]);
      await v.remove("p1", "s1");
      expect((await v.loadAll()).map(sortKey).sort()).toEqual(["p1/s2/r1", "p2/s1/r1"]);
      await v.remove("p1");
      expect((await v.loadAll()).map(sortKey)).toEqual(["p2/s1/r1"]);
    });
  });
}

const account = (name: string, extra: Partial<Account> = {}): Account => ({
  name,
  level: "AUTHENTICATED",
  passwordHash: `scrypt$${name}`,
  createdAt: 1_700_000_000_000,
  ...extra,
});

const token = (hash: string, acct: string, extra: Partial<ApiToken> = {}): ApiToken => ({
  tokenHash: hash,
  account: acct,
  label: `token ${hash}`,
  createdAt: 1_700_000_000_000,
  expiresAt: null,
  ...extra,
});

export function securityStoreContract(backend: StoreBackend): void {
  describe(`SecurityStore (${backend.name})`, () => {
    let sec: SecurityStore;
    beforeEach(async () => {
      sec = await backend.security();
    });

    it("puts, replaces, lists and deletes accounts", async () => {
      await sec.putAccount(account("bob"));
      await sec.putAccount(account("alice", { level: "ADMIN", passwordHash: null }));
      await sec.putAccount(account("bob", { level: "OWNER" }));
      expect(await sec.listAccounts()).toEqual([
        account("alice", { level: "ADMIN", passwordHash: null }),
        account("bob", { level: "OWNER" }),
      ]);
      expect(await sec.getAccount("bob")).toEqual(account("bob", { level: "OWNER" }));
      expect(await sec.getAccount("carol")).toBeNull();
      expect(await sec.deleteAccount("bob")).toBe(true);
      expect(await sec.deleteAccount("bob")).toBe(false);
    });

    it("keeps tokens per account, refuses a token of a missing account, drops tokens with their account", async () => {
      await sec.putAccount(account("alice"));
      await sec.putAccount(account("bob"));
      await sec.putToken(token("h1", "alice", { expiresAt: 1_800_000_000_000 }));
      await sec.putToken(token("h2", "bob", { createdAt: 1_700_000_000_001 }));
      await sec.putToken(token("h3", "alice", { createdAt: 1_700_000_000_002 }));
      await expect(sec.putToken(token("h4", "nobody"))).rejects.toMatchObject({
        code: "RELAIS_ERR_DB_REFERENCE",
      });
      expect(await sec.findToken("h1")).toEqual(token("h1", "alice", { expiresAt: 1_800_000_000_000 }));
      expect(await sec.findToken("h4")).toBeNull();
      expect((await sec.listTokens("alice")).map((t) => t.tokenHash)).toEqual(["h1", "h3"]);
      expect((await sec.listTokens()).map((t) => t.tokenHash)).toEqual(["h1", "h2", "h3"]);
      expect(await sec.deleteToken("h3")).toBe(true);
      expect(await sec.deleteToken("h3")).toBe(false);
      await sec.deleteAccount("alice");
      expect(await sec.findToken("h1")).toBeNull();
      expect((await sec.listTokens()).map((t) => t.tokenHash)).toEqual(["h2"]);
    });

    it("saves and loads the policy document", async () => {
      expect(await sec.loadPolicy()).toBeNull();
      const policy = { root: { ANONYMOUS: ["DESCRIBE", "GET"] }, nodes: [{ path: "ext-*", allow: ["SET"] }] };
      await sec.savePolicy(policy);
      await sec.savePolicy({ ...policy, version: 2 });
      expect(await sec.loadPolicy()).toEqual({ ...policy, version: 2 });
    });
  });
}
