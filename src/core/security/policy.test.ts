import { describe, expect, it } from "vitest";
import { DEFAULT_PROFILE, emptyPolicy, parsePolicy, Policy, withGrant, withProfile } from "./policy.js";
import { ANONYMOUS, levelAtLeast, principal } from "./principal.js";

const alice = principal("alice", "AUTHENTICATED");
const partner = principal("partner-beta", "AUTHENTICATED");
const admin = principal("admin", "ADMIN");
const owner = principal("root", "OWNER");

describe("access levels", () => {
  it("orders ANONYMOUS < AUTHENTICATED < ADMIN < OWNER", () => {
    expect(levelAtLeast("ADMIN", "AUTHENTICATED")).toBe(true);
    expect(levelAtLeast("AUTHENTICATED", "ADMIN")).toBe(false);
    expect(levelAtLeast("OWNER", "ADMIN")).toBe(true);
    expect(levelAtLeast("ANONYMOUS", "ANONYMOUS")).toBe(true);
  });
});

describe("Policy", () => {
  it("applies the DEFAULT profile with no rules", () => {
    const p = new Policy();
    expect(p.rulesAt(["a", "b", "c"]).requirement).toEqual(DEFAULT_PROFILE);
    for (const m of ["DESCRIBE", "GET", "SUBSCRIBE", "UNSUBSCRIBE"] as const)
      expect(p.allows(ANONYMOUS, m, ["a"])).toBe(true);
    for (const m of ["SET", "ACT", "CREATE"] as const) {
      expect(p.allows(ANONYMOUS, m, ["a", "b", "c"])).toBe(false);
      expect(p.allows(alice, m, ["a", "b", "c"])).toBe(false);
      expect(p.allows(admin, m, ["a", "b", "c"])).toBe(true);
    }
  });

  it("inherits from the branch and lets deeper nodes override", () => {
    let doc = withProfile(emptyPolicy(), ["plant"], { GET: "ADMIN" });
    doc = withProfile(doc, ["plant", "public"], { GET: "ANONYMOUS" });
    const p = new Policy(doc);
    expect(p.allows(ANONYMOUS, "GET", ["plant", "private", "x"])).toBe(false); // inherited from plant
    expect(p.allows(admin, "GET", ["plant", "private", "x"])).toBe(true);
    expect(p.allows(ANONYMOUS, "GET", ["plant", "public", "x"])).toBe(true); // overridden below
    expect(p.allows(ANONYMOUS, "GET", ["other", "s", "r"])).toBe(true); // another branch: default
    expect(p.allows(ANONYMOUS, "DESCRIBE", ["plant", "private", "x"])).toBe(true); // other methods untouched
  });

  it("matches patterns, most specific first, exact names before patterns", () => {
    let doc = withProfile(emptyPolicy(), ["ext-*"], { GET: "AUTHENTICATED" });
    doc = withProfile(doc, ["ext-secret-*"], { GET: "ADMIN" });
    doc = withProfile(doc, ["ext-secret-1"], { GET: "ANONYMOUS" });
    doc = withProfile(doc, ["dev-??"], { GET: "NONE" });
    const p = new Policy(doc);
    expect(p.allows(ANONYMOUS, "GET", ["ext-a"])).toBe(false);
    expect(p.allows(alice, "GET", ["ext-a"])).toBe(true);
    expect(p.allows(alice, "GET", ["ext-secret-2"])).toBe(false);
    expect(p.allows(admin, "GET", ["ext-secret-2"])).toBe(true);
    expect(p.allows(ANONYMOUS, "GET", ["ext-secret-1"])).toBe(true);
    expect(p.allows(admin, "GET", ["dev-01"])).toBe(false); // NONE: no level suffices
    expect(p.allows(owner, "GET", ["dev-01"])).toBe(true); // OWNER may do everything
    expect(p.allows(ANONYMOUS, "GET", ["dev-001"])).toBe(true); // ? is exactly one character
    expect(p.allows(ANONYMOUS, "GET", ["xext-a"])).toBe(true); // anchored
  });

  it("grants named accounts methods on a branch, adding up along the path", () => {
    let doc = withGrant(emptyPolicy(), ["ext-*"], "partner-beta", ["SET", "CREATE"]);
    doc = withGrant(doc, ["ext-*", "cmd"], "partner-beta", ["ACT"]);
    doc = withGrant(doc, ["ext-*"], "partner-beta", ["SET"]); // merged, not duplicated
    expect(doc.root.children?.["ext-*"]?.grants).toEqual([
      { account: "partner-beta", methods: ["SET", "CREATE"] },
    ]);
    const p = new Policy(doc);
    expect(p.allows(partner, "SET", ["ext-1", "s", "r"])).toBe(true);
    expect(p.allows(partner, "CREATE", ["ext-1", "s", "r"])).toBe(true);
    expect(p.allows(partner, "ACT", ["ext-1", "s", "r"])).toBe(false);
    expect(p.allows(partner, "ACT", ["ext-1", "cmd", "r"])).toBe(true);
    expect(p.allows(partner, "SET", ["int-1", "s", "r"])).toBe(false);
    expect(p.allows(alice, "SET", ["ext-1", "s", "r"])).toBe(false);
  });

  it("validates documents and round-trips them through JSON", () => {
    const doc = withGrant(withProfile(emptyPolicy(), ["a*", "s"], { GET: "NONE" }), ["a*"], "x", ["SET"]);
    expect(parsePolicy(JSON.parse(JSON.stringify(doc)))).toEqual(doc);
    expect(parsePolicy(null)).toEqual(emptyPolicy());
    const bad = [
      { version: 2, root: {} },
      { version: 1, root: { profile: { FLY: "ADMIN" } } },
      { version: 1, root: { profile: { GET: "GOD" } } },
      { version: 1, root: { grants: [{ account: "", methods: ["GET"] }] } },
      { version: 1, root: { grants: [{ account: "a", methods: ["JUMP"] }] } },
      { version: 1, root: { children: { "a/b": {} } } },
      { version: 1, root: { extra: 1 } },
      {
        version: 1,
        root: { children: { p: { children: { s: { children: { r: { children: { x: {} } } } } } } } },
      },
    ];
    for (const b of bad)
      expect(() => parsePolicy(b), JSON.stringify(b)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_SECURITY_BAD_POLICY" }),
      );
  });
});
