/**
 * The security policy tree (sensiNact: "the security policy is defined as a tree where a leaf can
 * inherit from the security rules on its branch").
 *
 * Document shape (persisted as one JSON document via SecurityStore.savePolicy):
 *
 *   { "version": 1,
 *     "root": { "profile": { "GET": "ANONYMOUS", "SET": "ADMIN", … },
 *               "grants":  [ { "account": "partner-beta", "methods": ["SET", "CREATE"] } ],
 *               "children": { "ext-*": { …provider node…, "children": { "<service pattern>": { … } } } } } }
 *
 * Depth 0 is the root, 1 providers, 2 services, 3 resources. Child keys are names or glob patterns
 * (`*` any run of characters, `?` one character). For a path, at each depth the most specific
 * matching child is followed: an exact name first, then the pattern with the most literal
 * characters, then the first declared.
 *
 * Decision for (caller, method, path):
 *   - OWNER may do everything;
 *   - otherwise allowed when the caller's level ≥ the requirement of the deepest node on the path
 *     that states one for this method (requirement "NONE": no level suffices), or when a grant on
 *     any node of the path names the caller's account and the method (grants add up along the branch).
 * Nodes without a rule inherit from their branch; the root falls back to DEFAULT_PROFILE.
 */
import { RelaisError } from "../errors.js";
import type { AccessLevel } from "../ports.js";
import { isAccessLevel, levelAtLeast, type Principal } from "./principal.js";

export const METHODS = ["DESCRIBE", "GET", "SET", "ACT", "SUBSCRIBE", "UNSUBSCRIBE", "CREATE"] as const;
export type Method = (typeof METHODS)[number];

/** A level, or NONE: nobody by level (only grants and OWNER). */
export type Requirement = AccessLevel | "NONE";

export type AccessProfile = Partial<Record<Method, Requirement>>;

export interface Grant {
  account: string;
  methods: Method[];
}

export interface PolicyNode {
  profile?: AccessProfile;
  grants?: Grant[];
  children?: Record<string, PolicyNode>;
}

export interface PolicyDocument {
  version: 1;
  root: PolicyNode;
}

/**
 * sensiNact's DEFAULT profile (CONTRACTS.md §3): anonymous callers may DESCRIBE, GET, SUBSCRIBE and
 * UNSUBSCRIBE; SET, ACT and CREATE need ADMIN, or an authenticated account granted the method by a rule.
 */
export const DEFAULT_PROFILE: Readonly<Record<Method, Requirement>> = Object.freeze({
  DESCRIBE: "ANONYMOUS",
  GET: "ANONYMOUS",
  SUBSCRIBE: "ANONYMOUS",
  UNSUBSCRIBE: "ANONYMOUS",
  SET: "ADMIN",
  ACT: "ADMIN",
  CREATE: "ADMIN",
});

export function emptyPolicy(): PolicyDocument {
  return { version: 1, root: {} };
}

function isMethod(v: unknown): v is Method {
  return typeof v === "string" && (METHODS as readonly string[]).includes(v);
}

const PATTERN = /^[A-Za-z0-9\-:._*?]{1,64}$/;

function bad(path: string, message: string): RelaisError {
  return new RelaisError("RELAIS_ERR_SECURITY_BAD_POLICY", `${message} at ${path}`, { path });
}

function parseNode(raw: unknown, path: string, depth: number): PolicyNode {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad(path, "Expected an object");
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== "profile" && k !== "grants" && k !== "children") throw bad(path, `Unknown member ${k}`);
  }
  const node: PolicyNode = {};
  if (o.profile !== undefined) {
    if (typeof o.profile !== "object" || o.profile === null) throw bad(path, "profile must be an object");
    const profile: AccessProfile = {};
    for (const [m, r] of Object.entries(o.profile as Record<string, unknown>)) {
      if (!isMethod(m)) throw bad(path, `Unknown method ${m}`);
      if (r !== "NONE" && !isAccessLevel(r)) throw bad(path, `Unknown level ${String(r)}`);
      profile[m] = r;
    }
    node.profile = profile;
  }
  if (o.grants !== undefined) {
    if (!Array.isArray(o.grants)) throw bad(path, "grants must be an array");
    node.grants = o.grants.map((g: unknown) => {
      if (typeof g !== "object" || g === null) throw bad(path, "grant must be an object");
      const { account, methods } = g as Record<string, unknown>;
      if (typeof account !== "string" || account === "") throw bad(path, "grant.account must be a name");
      if (!Array.isArray(methods) || !methods.every(isMethod))
        throw bad(path, "grant.methods must list methods");
      return { account, methods: [...methods] };
    });
  }
  if (o.children !== undefined) {
    if (depth >= 3) throw bad(path, "Resources have no children");
    if (typeof o.children !== "object" || o.children === null) throw bad(path, "children must be an object");
    const children: Record<string, PolicyNode> = {};
    for (const [k, v] of Object.entries(o.children as Record<string, unknown>)) {
      if (!PATTERN.test(k)) throw bad(`${path}/${k}`, "Invalid name pattern");
      children[k] = parseNode(v, `${path === "/" ? "" : path}/${k}`, depth + 1);
    }
    node.children = children;
  }
  return node;
}

/** Validates an untrusted document (e.g. from the store or the admin API). null → empty policy. */
export function parsePolicy(raw: unknown): PolicyDocument {
  if (raw === null || raw === undefined) return emptyPolicy();
  if (typeof raw !== "object" || (raw as { version?: unknown }).version !== 1) {
    throw bad("/", "Expected {version: 1, root: {...}}");
  }
  return { version: 1, root: parseNode((raw as { root?: unknown }).root ?? {}, "/", 0) };
}

function globToRegExp(p: string): RegExp {
  const esc = p
    .replace(/[.+^${}()|[\]\\-]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${esc}$`);
}

/** Compiled node: children split into exact names and ordered patterns. */
interface CompiledNode {
  profile: AccessProfile;
  grants: ReadonlyMap<string, ReadonlySet<Method>>;
  exact: Map<string, CompiledNode>;
  patterns: { re: RegExp; literal: number; node: CompiledNode }[];
}

function compile(node: PolicyNode): CompiledNode {
  const grants = new Map<string, Set<Method>>();
  for (const g of node.grants ?? []) {
    const set = grants.get(g.account) ?? new Set<Method>();
    for (const m of g.methods) set.add(m);
    grants.set(g.account, set);
  }
  const c: CompiledNode = { profile: node.profile ?? {}, grants, exact: new Map(), patterns: [] };
  for (const [k, child] of Object.entries(node.children ?? {})) {
    if (/[*?]/.test(k)) {
      c.patterns.push({ re: globToRegExp(k), literal: k.replace(/[*?]/g, "").length, node: compile(child) });
    } else {
      c.exact.set(k, compile(child));
    }
  }
  // Most literal characters first; stable sort keeps declaration order among equals.
  c.patterns.sort((a, b) => b.literal - a.literal);
  return c;
}

/** What applies at one path: the requirement per method and the accounts granted per method. */
export interface EffectiveRules {
  readonly requirement: Readonly<Record<Method, Requirement>>;
  readonly grants: ReadonlyMap<string, ReadonlySet<Method>>;
}

const MAX_CACHE = 200_000;

const RANK: Record<Requirement, number> = { ANONYMOUS: 0, AUTHENTICATED: 1, ADMIN: 2, OWNER: 3, NONE: 99 };

function allowedBy(rules: EffectiveRules, caller: Principal, method: Method): boolean {
  const req = rules.requirement[method];
  if (req !== "NONE" && levelAtLeast(caller.level, req)) return true;
  return caller.account !== null && (rules.grants.get(caller.account)?.has(method) ?? false);
}

/**
 * The decisions for one path, precomputed: O(1) checks on the hot path (GET, notification fan-out).
 * Paths that no rule names share their parent's decisions (one shared object per parent), so a
 * model with 100k resources and a handful of rules holds a handful of these.
 */
export class PathAccess {
  private readonly need: Readonly<Record<Method, number>>;
  /** Highest DESCRIBE rank required along the path: a caller at or above it sees the whole chain. */
  private readonly visibleRank: number;
  /** Shared decisions for the children that no rule names. */
  private unnamedChild: PathAccess | null = null;

  constructor(
    /** Effective rules at each depth of the path (root excluded), the last one being the path itself. */
    private readonly chain: readonly EffectiveRules[],
    readonly rules: EffectiveRules,
    /** The policy node at this path, or undefined when no rule names it. */
    readonly node: CompiledNode | undefined,
  ) {
    const need = {} as Record<Method, number>;
    for (const m of METHODS) need[m] = RANK[rules.requirement[m]];
    this.need = need;
    this.visibleRank = Math.max(0, ...chain.map((r) => RANK[r.requirement.DESCRIBE]));
  }

  /** May `caller` use `method` here (this node's own rules)? OWNER may do everything. */
  allows(caller: Principal, method: Method): boolean {
    if (caller.level === "OWNER") return true;
    if (RANK[caller.level] >= this.need[method]) return true;
    return caller.account !== null && (this.rules.grants.get(caller.account)?.has(method) ?? false);
  }

  /** DESCRIBE allowed here and on every ancestor (provider, service). */
  visible(caller: Principal): boolean {
    if (caller.level === "OWNER" || RANK[caller.level] >= this.visibleRank) return true;
    return this.chain.every((r) => allowedBy(r, caller, "DESCRIBE"));
  }

  /** Decisions for the child named `segment`. */
  child(segment: string): PathAccess {
    const n = this.node?.exact.get(segment) ?? this.node?.patterns.find((p) => p.re.test(segment))?.node;
    if (!n) {
      this.unnamedChild ??= new PathAccess([...this.chain, this.rules], this.rules, undefined);
      return this.unnamedChild;
    }
    const rules = applyNode(this.rules, n);
    return new PathAccess([...this.chain, rules], rules, n);
  }
}

function applyNode(base: EffectiveRules, n: CompiledNode): EffectiveRules {
  const requirement: Record<Method, Requirement> = { ...base.requirement };
  for (const [m, r] of Object.entries(n.profile) as [Method, Requirement][]) requirement[m] = r;
  const grants = new Map<string, ReadonlySet<Method>>(base.grants);
  for (const [acc, ms] of n.grants) grants.set(acc, new Set([...(grants.get(acc) ?? []), ...ms]));
  return { requirement, grants };
}

/** The compiled, queryable policy. Immutable: replace it to change the policy. */
export class Policy {
  private readonly rootAccess: PathAccess;
  private readonly cache = new Map<string, PathAccess>();

  constructor(readonly document: PolicyDocument = emptyPolicy()) {
    const root = compile(document.root);
    const rules = applyNode({ requirement: { ...DEFAULT_PROFILE }, grants: new Map() }, root);
    this.rootAccess = new PathAccess([], rules, root);
  }

  /** Decisions at a path given as segments ([] root, [p], [p, s], [p, s, r]). Cached per path. */
  access(segments: readonly string[]): PathAccess {
    if (segments.length === 0) return this.rootAccess;
    const key = segments.join("/");
    const hit = this.cache.get(key);
    if (hit) return hit;
    const access = this.access(segments.slice(0, -1)).child(segments[segments.length - 1]!);
    if (this.cache.size >= MAX_CACHE) this.cache.clear();
    this.cache.set(key, access);
    return access;
  }

  /** Effective rules at a path (what the deepest rules on the branch say). */
  rulesAt(segments: readonly string[]): EffectiveRules {
    return this.access(segments).rules;
  }

  allows(caller: Principal, method: Method, segments: readonly string[]): boolean {
    if (caller.level === "OWNER") return true;
    return this.access(segments).allows(caller, method);
  }
}

// ---- Pure editing helpers (for the admin API, the CLI and the demo) ----

function clone(doc: PolicyDocument): PolicyDocument {
  return structuredClone(doc);
}

function nodeAt(doc: PolicyDocument, patterns: readonly string[]): PolicyNode {
  if (patterns.length > 3) throw bad(patterns.join("/"), "At most provider/service/resource");
  let node = doc.root;
  for (const p of patterns) {
    if (!PATTERN.test(p)) throw bad(p, "Invalid name pattern");
    node.children ??= {};
    node = node.children[p] ??= {};
  }
  return node;
}

/**
 * Returns a copy of `doc` where `account` is granted `methods` on the node at `patterns`
 * (e.g. ["ext-*"] = every provider whose name starts with ext-, and everything below it).
 */
export function withGrant(
  doc: PolicyDocument,
  patterns: readonly string[],
  account: string,
  methods: readonly Method[],
): PolicyDocument {
  const out = clone(doc);
  const node = nodeAt(out, patterns);
  node.grants ??= [];
  const g = node.grants.find((x) => x.account === account);
  if (g) g.methods = [...new Set([...g.methods, ...methods])];
  else node.grants.push({ account, methods: [...methods] });
  return out;
}

/** Returns a copy of `doc` with `profile` merged into the node at `patterns` ([] = root). */
export function withProfile(
  doc: PolicyDocument,
  patterns: readonly string[],
  profile: AccessProfile,
): PolicyDocument {
  const out = clone(doc);
  const node = nodeAt(out, patterns);
  node.profile = { ...node.profile, ...profile };
  return out;
}
