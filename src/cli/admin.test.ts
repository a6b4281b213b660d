/**
 * The admin CLI as child processes (`tsx src/cli/index.ts …`), on the embedded database and on
 * the PostgreSQL server: add/list round-trips, one-line coded errors with nothing half-written,
 * wrong key refused, key rotation, and a canary password that never shows in pg_dump or output.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecretKey } from "../adapters/crypto/secret-box.js";
import { PgDatabase } from "../adapters/postgres/pg-database.js";
import { PgOutboxStore } from "../adapters/postgres/outbox-store.js";
import { freshDatabase, type FreshDatabase } from "../../test/support/postgres.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSX = join(ROOT, "node_modules/.bin/tsx");
const CANARY = `canary-${Math.random().toString(36).slice(2)}-Pässword!`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Everything every command printed, to look for the canary. */
const transcript: string[] = [];

function cli(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      TSX,
      ["src/cli/index.ts", ...args],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "/tmp",
          RELAIS_LOG_LEVEL: "debug",
          ...env,
        },
        timeout: 120_000,
      },
      (error, stdout, stderr) => {
        transcript.push(stdout, stderr);
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? "");
  });
}

async function ok(args: string[], env: Record<string, string>, input?: string): Promise<string> {
  const r = await cli(args, env, input);
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function fails(args: string[], env: Record<string, string>, code: string): Promise<Run> {
  const r = await cli(args, env);
  expect(r.code, `${args.join(" ")}: ${r.stdout}`).not.toBe(0);
  expect(r.stdout).toBe("");
  const lines = r.stderr
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("{")); // pino lines aside
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith(`${code}: `), lines[0]).toBe(true);
  return r;
}

const json = (s: string): unknown => JSON.parse(s);

/** The same scenario on either backend. */
async function scenario(env: Record<string, string>): Promise<void> {
  await ok(["user", "add", "alice@example.org", "--name", "Alice"], env);
  await ok(["app", "add", "--jid", "local@fed.local", "--name", "local"], env);
  await ok(["app", "add", "--jid", "beta@fed.local", "--default-user", "alice@example.org"], env);
  const ua = await ok(
    [
      "userapp",
      "set",
      "--user",
      "alice@example.org",
      "--app",
      "local@fed.local",
      "--credentials-file",
      "-",
      "--json",
    ],
    env,
    JSON.stringify({ username: "alice", password: CANARY }),
  );
  expect(json(ua)).toMatchObject({ id: 1, userId: 1, appId: 1, hasCredentials: true });
  await ok(
    [
      "consumer",
      "add",
      "--user",
      "alice@example.org",
      "--app",
      "local@fed.local",
      "--to",
      "beta@fed.local",
      "--selector",
      "meter-*/power/*",
      "--mapping",
      '{"provider":{"meter-1":"ext-meter-1"}}',
      "--realtime",
    ],
    env,
  );

  // One after the other: two processes must not open the same embedded data directory at once.
  const lists: unknown[] = [];
  for (const g of ["app", "user", "userapp", "consumer"])
    lists.push(json(await ok([g, "list", "--json"], env)));
  const [apps, users, userApps, consumers] = lists;
  expect(apps).toEqual([
    expect.objectContaining({ id: 1, jid: "local@fed.local", name: "local", defaultUserId: null }),
    expect.objectContaining({ id: 2, jid: "beta@fed.local", name: "beta", defaultUserId: 1 }),
  ]);
  expect(users).toEqual([
    expect.objectContaining({ id: 1, federatedId: "alice@example.org", displayName: "Alice" }),
  ]);
  expect(userApps).toEqual([expect.objectContaining({ id: 1, userId: 1, appId: 1, hasCredentials: true })]);
  expect(consumers).toEqual([
    expect.objectContaining({
      id: 1,
      userAppId: 1,
      consumerAppId: 2,
      selector: "meter-*/power/*",
      mapping: { provider: { "meter-1": "ext-meter-1" } },
      enabled: true,
      realtime: true,
    }),
  ]);
  expect(await ok(["userapp", "list"], env)).toMatch(/credentials[\s\S]*\byes\b/);

  // Bad input: one coded line, exit ≠ 0, nothing written.
  await fails(["app", "add", "--jid", "beta@fed.local"], env, "RELAIS_ERR_DB_CONFLICT");
  await fails(
    [
      "consumer",
      "add",
      "--user",
      "nobody@example.org",
      "--app",
      "local@fed.local",
      "--to",
      "beta@fed.local",
      "--selector",
      "a/b/c",
    ],
    env,
    "RELAIS_ERR_DB_REFERENCE",
  );
  await fails(
    ["consumer", "add", "--user-app", "1", "--to", "ghost@fed.local", "--selector", "a/b/c"],
    env,
    "RELAIS_ERR_DB_REFERENCE",
  );
  await fails(["app", "list", "--bogus"], env, "RELAIS_ERR_CLI_USAGE");
  await fails(["app", "remove", "local@fed.local"], env, "RELAIS_ERR_DB_IN_USE");
  expect(json(await ok(["app", "list", "--json"], env))).toHaveLength(2);
  expect(json(await ok(["consumer", "list", "--json"], env))).toHaveLength(1);
}

describe("admin CLI on the embedded database (PGlite)", () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), "relais-cli-")), "data");
  const env = { RELAIS_DATA_DIR: dataDir };

  it("migrates, then adds and lists apps, users, user apps and consumers", { timeout: 600_000 }, async () => {
    const m = await ok(["migrate"], env);
    expect(m).toContain("applied 0001_init");
    expect(await ok(["migrate"], env)).not.toContain("applied");
    await scenario(env);
    // The generated key file: 0600, next to the database, and a warning said so.
    const keyFile = join(dataDir, "secret.key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(transcript.join("\n")).toContain("generated a credential key");
  });

  it(
    "refuses a wrong key, rotates the key file, and keeps the credentials readable",
    { timeout: 600_000 },
    async () => {
      await fails(
        ["app", "list"],
        { ...env, RELAIS_SECRET_KEY: generateSecretKey() },
        "RELAIS_ERR_SECRET_KEY_WRONG",
      );
      const before = readFileSync(join(dataDir, "secret.key"), "utf8");
      const rotated = await ok(["secrets", "rotate"], env);
      expect(rotated).toMatch(/re-encrypted 1 credential/);
      const after = readFileSync(join(dataDir, "secret.key"), "utf8");
      expect(after).not.toBe(before);
      expect(json(await ok(["userapp", "list", "--json"], env))).toEqual([
        expect.objectContaining({ hasCredentials: true }),
      ]);
      // The old key no longer opens them.
      await fails(
        ["user", "list"],
        { ...env, RELAIS_SECRET_KEY: before.trim() },
        "RELAIS_ERR_SECRET_KEY_WRONG",
      );
    },
  );

  it("never writes the canary password in clear to the data directory or the output", () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) walk(join(d, e.name));
        else files.push(join(d, e.name));
    };
    walk(dataDir);
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) expect(readFileSync(f).includes(CANARY), f).toBe(false);
    expect(transcript.join("\n")).not.toContain(CANARY);
  });
});

describe("admin CLI on the PostgreSQL server", () => {
  let fresh: FreshDatabase;
  let env: Record<string, string>;
  const key = generateSecretKey();

  beforeAll(async () => {
    fresh = await freshDatabase();
    env = { RELAIS_DATABASE_URL: fresh.url, RELAIS_SECRET_KEY: key };
  });

  afterAll(async () => {
    await fresh.drop();
  });

  it("adds and lists apps, users, user apps and consumers", { timeout: 300_000 }, async () => {
    expect(await ok(["migrate"], env)).toContain("schema at version 1 (server database)");
    await scenario(env);
  });

  it("never lets the canary password reach pg_dump or any output", { timeout: 300_000 }, async () => {
    const dump = spawnSync(
      "pg_dump",
      ["-h", fresh.info.host, "-p", String(fresh.info.port), "-U", fresh.info.user, "--no-owner", fresh.name],
      { encoding: "latin1", maxBuffer: 64 * 1024 * 1024 },
    );
    expect(dump.status, dump.stderr).toBe(0);
    expect(dump.stdout).toContain("beta@fed.local"); // the dump does hold the data…
    expect(dump.stdout).toContain("alice@example.org");
    expect(dump.stdout).not.toContain(CANARY); // …but not the password
    expect(dump.stdout).not.toContain(Buffer.from(CANARY).toString("hex"));
    expect(transcript.join("\n")).not.toContain(CANARY);
  });

  it("lists and retries outbox and inbox rows", { timeout: 300_000 }, async () => {
    const db = new PgDatabase(fresh.url);
    try {
      const outbox = new PgOutboxStore(db);
      await outbox.enqueue(
        [1, 2, 3].map((i) => ({
          messageId: `m-${i}`,
          consumerId: 1,
          toJid: "beta@fed.local",
          federatedUser: null,
          body: "[]",
          recordCount: 0,
        })),
      );
      await outbox.markDead("m-2", "rejected by peer");
      const dead = json(await ok(["outbox", "list", "--status", "dead", "--json"], env)) as {
        id: number;
        body?: string;
      }[];
      expect(dead).toEqual([
        expect.objectContaining({ messageId: "m-2", status: "dead", lastError: "rejected by peer" }),
      ]);
      expect(dead[0]).not.toHaveProperty("body");
      expect(await ok(["outbox", "retry", String(dead[0]!.id)], env)).toContain(
        "1 outbox message(s) back to pending",
      );
      expect(json(await ok(["outbox", "list", "--status", "dead", "--json"], env))).toEqual([]);
      expect(json(await ok(["outbox", "list", "--json", "--limit", "2"], env))).toHaveLength(2);
      expect(json(await ok(["inbox", "list", "--json"], env))).toEqual([]);
      expect(await ok(["inbox", "retry", "--all-dead"], env)).toContain("0 inbox message(s)");
      await fails(["outbox", "retry"], env, "RELAIS_ERR_CLI_USAGE");
      await fails(["outbox", "list", "--status", "lost"], env, "RELAIS_ERR_CLI_USAGE");
    } finally {
      await db.close();
    }
  });

  it("sets and gets runtime configuration", { timeout: 300_000 }, async () => {
    await ok(["config", "set", "jobs.fetch-outbox.schedule", "*/1 * * * *"], env);
    await ok(["config", "set", "limits.stanza", "65536"], env);
    expect((await ok(["config", "get", "limits.stanza"], env)).trim()).toBe("65536");
    expect((await ok(["config", "get", "jobs.fetch-outbox.schedule"], env)).trim()).toBe('"*/1 * * * *"');
    const all = json(await ok(["config", "get", "--json"], env)) as { key: string }[];
    expect(all.map((e) => e.key)).toEqual(["jobs.fetch-outbox.schedule", "limits.stanza"]);
    await fails(["config", "get", "no.such.key"], env, "RELAIS_ERR_CONFIG_UNKNOWN_KEY");
  });

  it("rejects a bad environment with one coded line", { timeout: 300_000 }, async () => {
    await fails(["app", "list"], { RELAIS_DATABASE_URL: fresh.url }, "RELAIS_ERR_SECRET_KEY_MISSING");
    await fails(["app", "list"], { ...env, RELAIS_SECRET_KEY: "c2hvcnQ=" }, "RELAIS_ERR_CONFIG_INVALID");
    await fails(
      ["app", "list"],
      { ...env, RELAIS_DATABASE_URL: "mysql://127.0.0.1/x" },
      "RELAIS_ERR_CONFIG_INVALID",
    );
    await fails(
      ["app", "list"],
      { ...env, RELAIS_SECRET_KEY: generateSecretKey() },
      "RELAIS_ERR_SECRET_KEY_WRONG",
    );
  });

  it("removes consumers, user apps, users and apps (in that order)", { timeout: 300_000 }, async () => {
    await ok(["user", "add", "bob@example.org"], env);
    await ok(
      ["userapp", "set", "--user", "bob@example.org", "--app", "2", "--credentials", '{"token":"t"}'],
      env,
    );
    await fails(["user", "remove", "bob@example.org"], env, "RELAIS_ERR_DB_IN_USE");
    await ok(["userapp", "remove", "--user", "bob@example.org", "--app", "beta@fed.local"], env);
    await ok(["user", "remove", "bob@example.org"], env);
    await fails(["user", "remove", "bob@example.org"], env, "RELAIS_ERR_DB_NOT_FOUND");
    await fails(["consumer", "remove", "x"], env, "RELAIS_ERR_CLI_USAGE");
    await ok(["app", "add", "--jid", "gamma@fed.local"], env);
    await ok(
      ["consumer", "add", "--user-app", "1", "--to", "gamma@fed.local", "--selector", "a/*/*", "--disabled"],
      env,
    );
    const consumers = json(await ok(["consumer", "list", "--json"], env)) as {
      id: number;
      enabled: boolean;
    }[];
    expect(consumers.map((c) => c.enabled)).toEqual([true, false]);
    await ok(["consumer", "remove", String(consumers[1]!.id)], env);
    await ok(["app", "remove", "gamma@fed.local"], env);
    expect((json(await ok(["app", "list", "--json"], env)) as { jid: string }[]).map((a) => a.jid)).toEqual([
      "local@fed.local",
      "beta@fed.local",
    ]);
  });

  it(
    "rotates a server key given on standard input; the old key is then refused",
    { timeout: 300_000 },
    async () => {
      const next = generateSecretKey();
      const r = await cli(["secrets", "rotate", "--new-key-file", "-"], env, `${next}\n`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("now set RELAIS_SECRET_KEY");
      expect(r.stdout).not.toContain(next);
      await fails(["user", "list"], env, "RELAIS_ERR_SECRET_KEY_WRONG");
      expect(json(await ok(["userapp", "list", "--json"], { ...env, RELAIS_SECRET_KEY: next }))).toHaveLength(
        1,
      );
    },
  );
});
