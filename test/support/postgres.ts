/**
 * PostgreSQL for tests (STYLE.md: graphile-worker's pattern): one server per run, one template
 * database migrated once per run, and a fresh database per test file created from it.
 *
 * The server: 127.0.0.1:5432 with trust auth when reachable; otherwise a private cluster started
 * with the installed binaries (/usr/lib/postgresql/<v>/bin) in a temporary directory.
 * No PostgreSQL at all fails the run with the command that installs it: nothing skips.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import type { TestProject } from "vitest/node";
import type { Database } from "../../src/adapters/postgres/database.js";
import { migrate } from "../../src/adapters/postgres/migrate.js";
import { PgDatabase } from "../../src/adapters/postgres/pg-database.js";

export interface PostgresInfo {
  host: string;
  port: number;
  user: string;
  /** A database to connect to for CREATE/DROP DATABASE. */
  adminDatabase: string;
  /** Migrated template for freshDatabase(). */
  template: string;
  /** Unique per test run: databases of this run are named relais_t_<runId>_… */
  runId: string;
  /** "server" (127.0.0.1:5432) or "private" (a cluster started for this run). */
  origin: "server" | "private";
  binDir: string | null;
}

declare module "vitest" {
  export interface ProvidedContext {
    relaisPostgres: PostgresInfo;
  }
}

const execFileAsync = promisify(execFile);

export const INSTALL_HINT =
  "PostgreSQL is required by the tests and none was found: install it with `apt-get install -y postgresql` (or set it up on 127.0.0.1:5432 with trust auth)";

const IDENT = /^[a-z0-9_]+$/;
function ident(name: string): string {
  // Database names cannot be bound as parameters: they are generated here and checked.
  if (!IDENT.test(name)) throw new Error(`bad database name ${name}`);
  return `"${name}"`;
}

export const urlOf = (info: Pick<PostgresInfo, "host" | "port" | "user">, database: string): string =>
  `postgres://${info.user}@${info.host}:${info.port}/${database}`;

async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on("error", () => undefined);
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function admin<R>(info: PostgresInfo, fn: (c: pg.Client) => Promise<R>): Promise<R> {
  return withClient(urlOf(info, info.adminDatabase), fn);
}

/** One short-lived connection to `url` for `fn`, always closed. */
async function withClient<R>(url: string, fn: (c: pg.Client) => Promise<R>): Promise<R> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export function findPostgresBinDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => {
        resolve(typeof addr === "object" && addr ? addr.port : 0);
      });
    });
  });
}

interface PrivateCluster {
  dir: string;
  binDir: string;
  port: number;
  uid: number | undefined;
  gid: number | undefined;
}

let cluster: PrivateCluster | null = null;
let provided: PostgresInfo | null = null;

function run(binDir: string, tool: string, args: string[], who: { uid?: number; gid?: number }): void {
  const r = spawnSync(join(binDir, tool), args, {
    encoding: "utf8",
    ...(who.uid === undefined ? {} : { uid: who.uid }),
    ...(who.gid === undefined ? {} : { gid: who.gid }),
  });
  if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr || r.stdout || String(r.error)}`);
}

async function startPrivateCluster(binDir: string): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), "relais-pg-"));
  // initdb refuses to run as root: run the cluster as the postgres system user then.
  let uid: number | undefined;
  let gid: number | undefined;
  if (process.getuid?.() === 0) {
    uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const who = { ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }) };
  run(binDir, "initdb", ["-D", join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync"], who);
  run(
    binDir,
    "pg_ctl",
    [
      "-D",
      join(dir, "data"),
      "-l",
      join(dir, "log"),
      "-w",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      "start",
    ],
    who,
  );
  return { dir, binDir, port, uid, gid };
}

const asUser = (c: Pick<PrivateCluster, "uid" | "gid">): { uid?: number; gid?: number } => ({
  ...(c.uid === undefined ? {} : { uid: c.uid }),
  ...(c.gid === undefined ? {} : { gid: c.gid }),
});

/**
 * A private PostgreSQL cluster that a fault test owns and may stop and start (RELIABILITY.md R5,
 * R6) without disturbing the run's shared server. Same port across restarts; each database is
 * created from a template migrated once for this cluster.
 */
export class PostgresCluster {
  private template: string | null = null;
  private running = true;

  /** A worker that dies without dispose() must not leave a postmaster behind. */
  private readonly exitHook = (): void => {
    if (!this.running) return;
    try {
      run(
        this.c.binDir,
        "pg_ctl",
        ["-D", join(this.c.dir, "data"), "-m", "immediate", "stop"],
        asUser(this.c),
      );
    } catch {
      // nothing more to do on the way out
    }
  };

  private constructor(private readonly c: PrivateCluster) {
    process.once("exit", this.exitHook);
  }

  /** initdb + start on a free loopback port (Debian binaries, see findPostgresBinDir). */
  static async start(): Promise<PostgresCluster> {
    const binDir = findPostgresBinDir();
    if (binDir === null) throw new Error(INSTALL_HINT);
    return new PostgresCluster(await startPrivateCluster(binDir));
  }

  get port(): number {
    return this.c.port;
  }

  get isRunning(): boolean {
    return this.running;
  }

  url(database: string): string {
    return urlOf({ host: "127.0.0.1", port: this.c.port, user: "postgres" }, database);
  }

  /** Asynchronous: the gateways under test keep running while the server stops or starts. */
  private async pgCtl(...args: string[]): Promise<void> {
    try {
      await execFileAsync(join(this.c.binDir, "pg_ctl"), ["-D", join(this.c.dir, "data"), ...args], {
        encoding: "utf8",
        ...asUser(this.c),
      });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string };
      throw new Error(`pg_ctl ${args.at(-1) ?? ""} failed: ${err.stderr ?? err.stdout ?? String(e)}`);
    }
  }

  /** pg_ctl stop -m fast (clients told to go) or -m immediate (no shutdown checkpoint: crash recovery at the next start). */
  async stop(mode: "fast" | "immediate"): Promise<void> {
    await this.pgCtl("-m", mode, "-w", "-t", "30", "stop");
    this.running = false;
  }

  /** pg_ctl start -w: returns once the server accepts connections. */
  async startAgain(): Promise<void> {
    await this.pgCtl(
      "-l",
      join(this.c.dir, "log"),
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${this.c.port} -k ${this.c.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      "start",
    );
    this.running = true;
  }

  private async admin<R>(fn: (c: pg.Client) => Promise<R>): Promise<R> {
    return withClient(this.url("postgres"), fn);
  }

  /** An empty database (no schema): a gateway starting on it migrates it. */
  async emptyDatabase(): Promise<string> {
    const name = `relais_c_${randomBytes(5).toString("hex")}`;
    await this.admin((c) => c.query(`CREATE DATABASE ${ident(name)}`));
    return this.url(name);
  }

  /** A database with every migration applied (a copy of this cluster's template). */
  async freshDatabase(): Promise<string> {
    if (this.template === null) {
      const tpl = `relais_ctpl_${randomBytes(4).toString("hex")}`;
      await this.admin((c) => c.query(`CREATE DATABASE ${ident(tpl)}`));
      const db = new PgDatabase(this.url(tpl), { max: 1 });
      try {
        await migrate(db);
      } finally {
        await db.close();
      }
      this.template = tpl;
    }
    const name = `relais_c_${randomBytes(5).toString("hex")}`;
    const tpl = this.template;
    await this.admin((c) => c.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(tpl)}`));
    return this.url(name);
  }

  /** Stop (immediate) and delete the cluster. Idempotent. */
  async dispose(): Promise<void> {
    try {
      if (this.running) await this.stop("immediate");
    } catch {
      // already down
    } finally {
      this.running = false;
      process.removeListener("exit", this.exitHook);
      rmSync(this.c.dir, { recursive: true, force: true });
    }
  }
}

/** vitest globalSetup service (test/support/global-setup.ts). */
export const postgresService = {
  async setup(project: TestProject): Promise<void> {
    const runId = `${process.pid}_${randomBytes(4).toString("hex")}`;
    const base = { host: "127.0.0.1", user: "postgres", runId, template: `relais_tpl_${runId}` };
    let info: PostgresInfo;
    // RELAIS_TEST_POSTGRES=private: use a private cluster even when 5432 answers (to test this path).
    const forcePrivate = process.env.RELAIS_TEST_POSTGRES === "private";
    if (!forcePrivate && (await canConnect(urlOf({ ...base, port: 5432 }, "test")))) {
      info = { ...base, port: 5432, adminDatabase: "test", origin: "server", binDir: findPostgresBinDir() };
    } else {
      const binDir = findPostgresBinDir();
      if (binDir === null) throw new Error(INSTALL_HINT);
      cluster = await startPrivateCluster(binDir);
      info = { ...base, port: cluster.port, adminDatabase: "postgres", origin: "private", binDir };
    }
    await admin(info, async (c) => {
      await c.query(`CREATE DATABASE ${ident(info.template)}`);
    });
    const db = new PgDatabase(urlOf(info, info.template), { max: 1 });
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
    provided = info;
    project.provide("relaisPostgres", info);
    console.log(
      `postgres ready on 127.0.0.1:${info.port} (${info.origin === "server" ? "existing server" : `private cluster from ${info.binDir ?? "?"}`}), template ${info.template}`,
    );
  },

  async teardown(): Promise<void> {
    const info = provided;
    provided = null;
    if (info) {
      await admin(info, async (c) => {
        const r = await c.query<{ datname: string }>(
          "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2",
          [info.template, `relais_t_${info.runId}_%`],
        );
        for (const { datname } of r.rows)
          await c.query(`DROP DATABASE IF EXISTS ${ident(datname)} WITH (FORCE)`);
      }).catch(() => undefined);
    }
    if (cluster) {
      const { dir, binDir, uid, gid } = cluster;
      cluster = null;
      try {
        run(binDir, "pg_ctl", ["-D", join(dir, "data"), "-m", "immediate", "-w", "stop"], {
          ...(uid === undefined ? {} : { uid }),
          ...(gid === undefined ? {} : { gid }),
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  },
};

export interface FreshDatabase {
  name: string;
  url: string;
  info: PostgresInfo;
  /** DROP DATABASE … WITH (FORCE). */
  drop(): Promise<void>;
}

/** A new database with every migration applied (a copy of the run's template). */
export async function freshDatabase(): Promise<FreshDatabase> {
  // Imported here: this module is also loaded by globalSetup, where vitest's test API is absent.
  const { inject } = await import("vitest");
  const info = inject("relaisPostgres");
  if (!info)
    throw new Error(
      `relaisPostgres not provided: is test/support/global-setup.ts the globalSetup? ${INSTALL_HINT}`,
    );
  const name = `relais_t_${info.runId}_${randomBytes(5).toString("hex")}`;
  await admin(info, async (c) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(info.template)}`);
        return;
      } catch (e) {
        // 55006: the template is briefly in use by another CREATE DATABASE; try again.
        if ((e as { code?: string }).code !== "55006" || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 100 + attempt * 50));
      }
    }
  });
  return {
    name,
    url: urlOf(info, name),
    info,
    drop: () =>
      admin(info, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
      }),
  };
}

/** Empty every table (between tests sharing one database); keeps schema_migrations. */
export async function truncateAll(db: Database): Promise<void> {
  const r = await db.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'",
  );
  const names = r.rows.map((row) => ident(row.tablename));
  if (names.length > 0) await db.exec(`TRUNCATE ${names.join(", ")} RESTART IDENTITY CASCADE`);
}
