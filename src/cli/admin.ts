/**
 * Admin commands (CONTRACTS.md §1): migrate, app, user, userapp, consumer, outbox, inbox, config,
 * secrets. They work on the configured database: PGlite in RELAIS_DATA_DIR, or the server named
 * by RELAIS_DATABASE_URL. Credentials are write-only: no command prints them.
 */
import { parseConnectorConfig } from "../connectors/config.js";
import { CONNECTOR_KEY_PREFIX } from "../connectors/sources.js";
import { readFileSync } from "node:fs";
import { rmSync } from "node:fs";
import { Command, Option } from "commander";
import { RelaisError, isRelaisError } from "../core/errors.js";
import type { Logger } from "../core/ports.js";
import { loadConfig, type BootConfig } from "../config.js";
import { createLogger } from "../log.js";
import {
  INBOX_STATUSES,
  OUTBOX_STATUSES,
  type App,
  type Credentials,
  type InboxStatus,
  type OutboxStatus,
  type User,
} from "../federation/stores.js";
import { openDatabase, openStores } from "../adapters/postgres/open.js";
import type { PgStores } from "../adapters/postgres/pg-stores.js";
import {
  SecretBox,
  generateSecretKey,
  loadSecretKey,
  parseSecretKey,
  writeKeyFile,
  type LoadedKey,
} from "../adapters/crypto/secret-box.js";

// ---- plumbing --------------------------------------------------------------------------------

function bootConfig(): Readonly<BootConfig> {
  try {
    return loadConfig({ env: process.env });
  } catch (e) {
    // One line, code first: the problems joined.
    if (isRelaisError(e) && Array.isArray(e.details.problems))
      throw new RelaisError(
        "RELAIS_ERR_CONFIG_INVALID",
        `invalid configuration: ${e.details.problems.join("; ")}`,
        {
          problems: e.details.problems,
        },
      );
    throw e;
  }
}

interface Ctx {
  config: Readonly<BootConfig>;
  logger: Logger;
  stores: PgStores;
  key: LoadedKey;
}

/** Open the database (migrating it), load and verify the credential key, run fn, close. */
async function withStorage<R>(fn: (ctx: Ctx) => Promise<R>): Promise<R> {
  const config = bootConfig();
  const logger = createLogger(config.logLevel, "relais-admin");
  // The key first: a server database without a key fails before any connection.
  const key = loadSecretKey(config, logger);
  const db = await openDatabase(config, logger);
  try {
    const stores = await openStores(db, key.box);
    return await fn({ config, logger, stores, key });
  } finally {
    await db.close();
  }
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const printJson = (v: unknown): void => {
  out(JSON.stringify(v, null, 2));
};

function usage(message: string): RelaisError {
  return new RelaisError("RELAIS_ERR_CLI_USAGE", message);
}

function positiveInt(raw: string, what = "an id"): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw)))
    throw usage(`expected ${what} (a positive integer), got "${raw}"`);
  return Number(raw);
}

const isId = (raw: string): boolean => /^\d+$/.test(raw);

function iso(ms: number | null): string {
  return ms === null ? "-" : new Date(ms).toISOString();
}

/** Plain columns for humans; --json for scripts. */
function table(rows: Record<string, unknown>[], columns: string[]): void {
  if (rows.length === 0) {
    out("(none)");
    return;
  }
  const cells = rows.map((r) => columns.map((c) => fmt(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  out(
    columns
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
  for (const row of cells)
    out(
      row
        .map((v, i) => v.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    );
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

function readJsonArg(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw usage(`${what} is not valid JSON`);
  }
}

function readSource(pathOrDash: string): string {
  try {
    return readFileSync(pathOrDash === "-" ? 0 : pathOrDash, "utf8");
  } catch (e) {
    throw usage(`cannot read ${pathOrDash === "-" ? "standard input" : pathOrDash}: ${(e as Error).message}`);
  }
}

async function resolveUser(stores: PgStores, ref: string, missing: "reference" | "not-found"): Promise<User> {
  const user = isId(ref) ? await stores.users.get(Number(ref)) : await stores.users.getByFederatedId(ref);
  if (!user)
    throw new RelaisError(
      missing === "reference" ? "RELAIS_ERR_DB_REFERENCE" : "RELAIS_ERR_DB_NOT_FOUND",
      `no user ${ref}`,
      { user: ref },
    );
  return user;
}

async function resolveApp(stores: PgStores, ref: string, missing: "reference" | "not-found"): Promise<App> {
  const app = isId(ref) ? await stores.apps.get(Number(ref)) : await stores.apps.getByJid(ref);
  if (!app)
    throw new RelaisError(
      missing === "reference" ? "RELAIS_ERR_DB_REFERENCE" : "RELAIS_ERR_DB_NOT_FOUND",
      `no app ${ref}`,
      { app: ref },
    );
  return app;
}

function ensureObject(v: unknown, what: string): Credentials {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw usage(`${what} must be a JSON object`);
  return v as Credentials;
}

// ---- commands --------------------------------------------------------------------------------

export function registerAdminCommands(program: Command): void {
  program
    .command("migrate")
    .description("apply pending database migrations (also done at every start)")
    .action(async () => {
      const config = bootConfig();
      const logger = createLogger(config.logLevel, "relais-admin");
      let applied: { version: number; name: string }[] = [];
      let current = 0;
      const db = await openDatabase(config, logger, {
        onMigrated: (r) => {
          applied = r.applied;
          current = r.current;
        },
      });
      await db.close();
      for (const m of applied) out(`applied ${String(m.version).padStart(4, "0")}_${m.name}`);
      out(`schema at version ${current} (${config.databaseUrl === null ? "embedded" : "server"} database)`);
    });

  registerApp(program);
  registerUser(program);
  registerUserApp(program);
  registerConsumer(program);
  registerQueue(program, "outbox");
  registerQueue(program, "inbox");
  registerConfig(program);
  registerSecrets(program);
}

function registerApp(program: Command): void {
  const app = program.command("app").description("federation apps known to this gateway");
  app
    .command("add")
    .description("register an app by its XMPP JID")
    .requiredOption("--jid <jid>", "bare JID of the app, e.g. beta@fed.local")
    .option("--name <name>", "display name (default: the JID's local part)")
    .option("--description <text>", "free text")
    .option("--default-user <user>", "user (id or federated id) applied under when a message names none")
    .option("--json", "print the app as JSON")
    .action(
      async (o: {
        jid: string;
        name?: string;
        description?: string;
        defaultUser?: string;
        json?: boolean;
      }) => {
        if (!/^[^@/\s]+@[^@/\s]+$|^[^@/\s]+\.[^@/\s]+$/.test(o.jid))
          throw usage(`not a bare JID: "${o.jid}"`);
        await withStorage(async ({ stores }) => {
          const user =
            o.defaultUser === undefined ? null : await resolveUser(stores, o.defaultUser, "reference");
          const created = await stores.apps.add({
            name: o.name ?? o.jid.split("@")[0] ?? o.jid,
            jid: o.jid,
            description: o.description ?? null,
            defaultUserId: user?.id ?? null,
          });
          await stores.audit.append({
            actor: "cli",
            action: "app.add",
            subject: o.jid,
            outcome: "ok",
            details: { id: created.id },
          });
          if (o.json) printJson(created);
          else out(`app ${created.id} ${created.jid} added`);
        });
      },
    );
  app
    .command("list")
    .description("list apps")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withStorage(async ({ stores }) => {
        const apps = await stores.apps.list();
        if (o.json) printJson(apps);
        else
          table(
            apps.map((a) => ({ ...a, created: iso(a.createdAt) })),
            ["id", "jid", "name", "defaultUserId", "description", "created"],
          );
      });
    });
  app
    .command("remove")
    .description("remove an app (refused while user apps or consumers use it)")
    .argument("<app>", "id or JID")
    .action(async (ref: string) => {
      await withStorage(async ({ stores }) => {
        const found = await resolveApp(stores, ref, "not-found");
        await stores.apps.remove(found.id);
        await stores.audit.append({
          actor: "cli",
          action: "app.remove",
          subject: found.jid,
          outcome: "ok",
          details: null,
        });
        out(`app ${found.id} ${found.jid} removed`);
      });
    });
}

function registerUser(program: Command): void {
  const user = program.command("user").description("federated users");
  user
    .command("add")
    .description("register a user by federated id")
    .argument("<federated-id>", "unique across the federation, e.g. alice@example.org")
    .option("--name <display-name>", "display name")
    .option("--json", "print the user as JSON")
    .action(async (federatedId: string, o: { name?: string; json?: boolean }) => {
      if (federatedId.trim() === "" || /\s/.test(federatedId))
        throw usage(`not a federated id: "${federatedId}"`);
      await withStorage(async ({ stores }) => {
        const created = await stores.users.add({ federatedId, displayName: o.name ?? null });
        await stores.audit.append({
          actor: "cli",
          action: "user.add",
          subject: federatedId,
          outcome: "ok",
          details: { id: created.id },
        });
        if (o.json) printJson(created);
        else out(`user ${created.id} ${created.federatedId} added`);
      });
    });
  user
    .command("list")
    .description("list users")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withStorage(async ({ stores }) => {
        const users = await stores.users.list();
        if (o.json) printJson(users);
        else
          table(
            users.map((u) => ({ ...u, created: iso(u.createdAt) })),
            ["id", "federatedId", "displayName", "created"],
          );
      });
    });
  user
    .command("remove")
    .description("remove a user (refused while it has user apps)")
    .argument("<user>", "id or federated id")
    .action(async (ref: string) => {
      await withStorage(async ({ stores }) => {
        const found = await resolveUser(stores, ref, "not-found");
        await stores.users.remove(found.id);
        await stores.audit.append({
          actor: "cli",
          action: "user.remove",
          subject: found.federatedId,
          outcome: "ok",
          details: null,
        });
        out(`user ${found.id} ${found.federatedId} removed`);
      });
    });
}

function registerUserApp(program: Command): void {
  const ua = program.command("userapp").description("a user's credentials for an application (write-only)");
  ua.command("set")
    .description("set (or replace) the credentials of a user for an app; they are stored encrypted")
    .requiredOption("--user <user>", "id or federated id")
    .requiredOption("--app <app>", "id or JID")
    .option(
      "--credentials <json>",
      'JSON object, e.g. {"username":"u","password":"p"} (visible in ps: prefer --credentials-file -)',
    )
    .option("--credentials-file <path>", "read the JSON object from a file, or - for standard input")
    .option("--clear", "remove the credentials but keep the user app")
    .option("--json", "print the user app as JSON (never the credentials)")
    .action(
      async (o: {
        user: string;
        app: string;
        credentials?: string;
        credentialsFile?: string;
        clear?: boolean;
        json?: boolean;
      }) => {
        const given = [o.credentials !== undefined, o.credentialsFile !== undefined, o.clear === true].filter(
          Boolean,
        ).length;
        if (given !== 1) throw usage("give exactly one of --credentials, --credentials-file, --clear");
        const credentials = o.clear
          ? null
          : ensureObject(
              readJsonArg(o.credentials ?? readSource(o.credentialsFile ?? "-"), "the credentials"),
              "the credentials",
            );
        await withStorage(async ({ stores }) => {
          const user = await resolveUser(stores, o.user, "reference");
          const app = await resolveApp(stores, o.app, "reference");
          const info = await stores.userApps.set(user.id, app.id, credentials);
          await stores.audit.append({
            actor: "cli",
            action: "userapp.set",
            subject: `${user.federatedId} ${app.jid}`,
            outcome: "ok",
            details: { id: info.id, credentials: info.hasCredentials ? "set" : "cleared" },
          });
          if (o.json) printJson(info);
          else
            out(
              `user app ${info.id} (${user.federatedId} on ${app.jid}): credentials set: ${info.hasCredentials ? "yes" : "no"}`,
            );
        });
      },
    );
  ua.command("list")
    .description("list user apps (credentials set: yes/no, never their content)")
    .option("--user <user>", "only this user (id or federated id)")
    .option("--json", "print JSON")
    .action(async (o: { user?: string; json?: boolean }) => {
      await withStorage(async ({ stores }) => {
        const user = o.user === undefined ? undefined : await resolveUser(stores, o.user, "not-found");
        const list = await stores.userApps.list(user ? { userId: user.id } : {});
        if (o.json) printJson(list);
        else
          table(
            list.map((u) => ({
              ...u,
              credentials: u.hasCredentials ? "yes" : "no",
              updated: iso(u.updatedAt),
            })),
            ["id", "userId", "appId", "credentials", "keyId", "updated"],
          );
      });
    });
  ua.command("remove")
    .description("remove a user app (refused while consumers use it)")
    .option("--id <id>", "user app id")
    .option("--user <user>", "id or federated id")
    .option("--app <app>", "id or JID")
    .action(async (o: { id?: string; user?: string; app?: string }) => {
      if ((o.id === undefined) === (o.user === undefined || o.app === undefined))
        throw usage("give --id, or --user and --app");
      await withStorage(async ({ stores }) => {
        let id: number;
        if (o.id !== undefined) id = positiveInt(o.id);
        else {
          const user = await resolveUser(stores, o.user!, "not-found");
          const app = await resolveApp(stores, o.app!, "not-found");
          const found = await stores.userApps.find(user.id, app.id);
          if (!found)
            throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no user app for ${o.user} on ${o.app}`);
          id = found.id;
        }
        if (!(await stores.userApps.remove(id)))
          throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no user app ${id}`);
        await stores.audit.append({
          actor: "cli",
          action: "userapp.remove",
          subject: String(id),
          outcome: "ok",
          details: null,
        });
        out(`user app ${id} removed`);
      });
    });
}

function registerConsumer(program: Command): void {
  const consumer = program.command("consumer").description("what to extract, for whom, to which app");
  consumer
    .command("add")
    .description("add a consumer: data of --selector, read with a user's credentials, sent to --to")
    .option("--user-app <id>", "the user app whose credentials read the local system")
    .option("--user <user>", "with --app: the user (id or federated id) of the user app")
    .option("--app <app>", "with --user: the local app (id or JID) of the user app")
    .requiredOption("--to <app>", "the consumer app receiving the data (id or JID)")
    .requiredOption(
      "--selector <pattern>",
      "resource pattern provider/service/resource with * wildcards, e.g. meter-*/power/*",
    )
    .option(
      "--mapping <json>",
      'id mapping applied before sending, e.g. {"provider":{"meter-1":"ext-meter-1"}}',
    )
    .option("--schedule <cron>", "cron expression of the extraction (default: the push-outbox schedule)")
    .option("--realtime", "send every change as it happens")
    .option("--disabled", "add it disabled")
    .option("--json", "print the consumer as JSON")
    .action(
      async (o: {
        userApp?: string;
        user?: string;
        app?: string;
        to: string;
        selector: string;
        mapping?: string;
        schedule?: string;
        realtime?: boolean;
        disabled?: boolean;
        json?: boolean;
      }) => {
        if ((o.userApp === undefined) === (o.user === undefined || o.app === undefined))
          throw usage("give --user-app, or --user and --app");
        if (!/^[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(o.selector))
          throw usage(`selector must be provider/service/resource (with * wildcards), got "${o.selector}"`);
        const mapping = o.mapping === undefined ? null : readJsonArg(o.mapping, "--mapping");
        await withStorage(async ({ stores }) => {
          let userAppId: number;
          if (o.userApp !== undefined) {
            userAppId = positiveInt(o.userApp);
            if (!(await stores.userApps.get(userAppId)))
              throw new RelaisError("RELAIS_ERR_DB_REFERENCE", `no user app ${userAppId}`);
          } else {
            const user = await resolveUser(stores, o.user!, "reference");
            const app = await resolveApp(stores, o.app!, "reference");
            const found = await stores.userApps.find(user.id, app.id);
            if (!found)
              throw new RelaisError(
                "RELAIS_ERR_DB_REFERENCE",
                `no user app for ${o.user} on ${o.app}: run relais userapp set first`,
              );
            userAppId = found.id;
          }
          const to = await resolveApp(stores, o.to, "reference");
          const created = await stores.consumers.add({
            userAppId,
            consumerAppId: to.id,
            selector: o.selector,
            mapping,
            enabled: !o.disabled,
            schedule: o.schedule ?? null,
            realtime: o.realtime === true,
          });
          await stores.audit.append({
            actor: "cli",
            action: "consumer.add",
            subject: String(created.id),
            outcome: "ok",
            details: { to: to.jid },
          });
          if (o.json) printJson(created);
          else out(`consumer ${created.id} added: ${created.selector} -> ${to.jid}`);
        });
      },
    );
  consumer
    .command("list")
    .description("list consumers")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withStorage(async ({ stores }) => {
        const list = await stores.consumers.list();
        if (o.json) printJson(list);
        else
          table(
            list.map((c) => ({ ...c, lastRun: iso(c.lastRunAt) })),
            [
              "id",
              "userAppId",
              "consumerAppId",
              "selector",
              "enabled",
              "realtime",
              "schedule",
              "mapping",
              "lastRun",
            ],
          );
      });
    });
  consumer
    .command("remove")
    .description("remove a consumer")
    .argument("<id>", "consumer id")
    .action(async (raw: string) => {
      const id = positiveInt(raw);
      await withStorage(async ({ stores }) => {
        if (!(await stores.consumers.remove(id)))
          throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `no consumer ${id}`);
        await stores.audit.append({
          actor: "cli",
          action: "consumer.remove",
          subject: String(id),
          outcome: "ok",
          details: null,
        });
        out(`consumer ${id} removed`);
      });
    });
}

function registerQueue(program: Command, which: "outbox" | "inbox"): void {
  const statuses: readonly string[] = which === "outbox" ? OUTBOX_STATUSES : INBOX_STATUSES;
  const q = program
    .command(which)
    .description(which === "outbox" ? "messages waiting to be sent" : "messages received");
  q.command("list")
    .description(`list ${which} messages (oldest first)`)
    .addOption(new Option("--status <status>", "only this status").choices([...statuses]))
    .option("--limit <n>", "at most n rows (default 100, max 1000)")
    .option("--after <id>", "rows after this id (paging)")
    .option("--body", "include the message bodies")
    .option("--json", "print JSON")
    .action(
      async (o: { status?: string; limit?: string; after?: string; body?: boolean; json?: boolean }) => {
        const page = {
          ...(o.status === undefined ? {} : { status: o.status }),
          ...(o.limit === undefined ? {} : { limit: positiveInt(o.limit, "a row count") }),
          ...(o.after === undefined ? {} : { afterId: positiveInt(o.after) }),
        };
        await withStorage(async ({ stores }) => {
          const rows =
            which === "outbox"
              ? await stores.outbox.list(page as { status?: OutboxStatus })
              : await stores.inbox.list(page as { status?: InboxStatus });
          const shown = rows.map((r) => {
            if (o.body) return r;
            const { body: _body, ...rest } = r;
            return rest;
          });
          if (o.json) {
            printJson(shown);
            return;
          }
          const counts =
            which === "outbox" ? await stores.outbox.countByStatus() : await stores.inbox.countByStatus();
          out(
            Object.entries(counts)
              .map(([k, v]) => `${k}: ${v}`)
              .join("  "),
          );
          table(
            shown.map((r) => ({
              ...r,
              peer: "toJid" in r ? r.toJid : r.senderJid,
              next: iso(r.nextAttemptAt),
            })),
            ["id", "messageId", "peer", "status", "attempts", "next", "lastError"],
          );
        });
      },
    );
  q.command("retry")
    .description(`put ${which === "outbox" ? "dead" : "dead (or, by id, rejected)"} messages back to pending`)
    .argument("[ids...]", "row ids")
    .option("--all-dead", "every dead message")
    .action(async (ids: string[], o: { allDead?: boolean }) => {
      if (ids.length > 0 === (o.allDead === true)) throw usage("give row ids or --all-dead");
      const rowIds = ids.map((i) => positiveInt(i));
      await withStorage(async ({ stores }) => {
        const n =
          which === "outbox"
            ? await stores.outbox.retry(o.allDead ? undefined : rowIds)
            : await stores.inbox.retry(o.allDead ? undefined : rowIds);
        await stores.audit.append({
          actor: "cli",
          action: `${which}.retry`,
          subject: o.allDead ? "all-dead" : rowIds.join(","),
          outcome: "ok",
          details: { count: n },
        });
        out(`${n} ${which} message(s) back to pending`);
      });
    });
}

function registerConfig(program: Command): void {
  const config = program.command("config").description("runtime configuration (the config table)");
  config
    .command("get")
    .description("print one key, or every key")
    .argument("[key]", "configuration key")
    .option("--json", "print JSON")
    .action(async (key: string | undefined, o: { json?: boolean }) => {
      await withStorage(async ({ stores }) => {
        if (key === undefined) {
          const all = await stores.config.list();
          if (o.json) printJson(all);
          else
            table(
              all.map((e) => ({ ...e, updated: iso(e.updatedAt) })),
              ["key", "value", "updated"],
            );
          return;
        }
        const e = await stores.config.get(key);
        if (!e)
          throw new RelaisError("RELAIS_ERR_CONFIG_UNKNOWN_KEY", `no configuration key "${key}"`, { key });
        out(o.json ? JSON.stringify(e, null, 2) : JSON.stringify(e.value));
      });
    });
  config
    .command("set")
    .description("set a key to a JSON value (plain text is stored as a string)")
    .argument("<key>", "configuration key, e.g. jobs.push-outbox.schedule")
    .argument("<value>", 'JSON (42, true, {"a":1}, "text") or plain text')
    .option("--string", "store the value as a string even if it parses as JSON")
    .action(async (key: string, raw: string, o: { string?: boolean }) => {
      if (!/^[A-Za-z0-9_.-]+$/.test(key))
        throw usage(`configuration keys use A-Z a-z 0-9 _ . -, got "${key}"`);
      let value: unknown = raw;
      if (!o.string) {
        try {
          value = JSON.parse(raw) as unknown;
        } catch {
          value = raw;
        }
      }
      // connector documents are validated before they are stored: every problem with its path
      if (key.startsWith(CONNECTOR_KEY_PREFIX)) parseConnectorConfig(value);
      await withStorage(async ({ stores }) => {
        await stores.config.set(key, value);
        await stores.audit.append({
          actor: "cli",
          action: "config.set",
          subject: key,
          outcome: "ok",
          details: null,
        });
        out(`${key} = ${JSON.stringify(value)}`);
      });
    });
}

function registerSecrets(program: Command): void {
  const secrets = program.command("secrets").description("the credential encryption key");
  secrets
    .command("rotate")
    .description(
      "re-encrypt every UserApp credential with a new key, in one transaction. Embedded mode with a key file: a new key is generated and the file replaced. Otherwise give the new key with --new-key-file or RELAIS_NEW_SECRET_KEY, then set RELAIS_SECRET_KEY to it.",
    )
    .option("--new-key-file <path>", "file holding the new key (32 bytes, base64), or - for standard input")
    .action(async (o: { newKeyFile?: string }) => {
      const fromEnv = process.env.RELAIS_NEW_SECRET_KEY;
      await withStorage(async ({ stores, key }) => {
        let nextBase64: string;
        if (o.newKeyFile !== undefined) nextBase64 = readSource(o.newKeyFile).trim();
        else if (fromEnv !== undefined && fromEnv !== "") nextBase64 = fromEnv.trim();
        else if (key.path !== null) nextBase64 = generateSecretKey();
        else
          throw new RelaisError(
            "RELAIS_ERR_SECRET_KEY_MISSING",
            "give the new key with --new-key-file or RELAIS_NEW_SECRET_KEY (openssl rand -base64 32)",
          );
        const next = new SecretBox(parseSecretKey(nextBase64));
        if (next.keyId === key.box.keyId) throw usage("the new key is the current key");
        // Key file: keep the new key on disk before the commit, so a crash cannot lose it.
        const staged = key.path === null ? null : `${key.path}.next`;
        if (staged !== null) writeKeyFile(staged, nextBase64);
        let n: number;
        try {
          n = await stores.userApps.rotate(next);
        } catch (e) {
          if (staged !== null) rmSync(staged, { force: true });
          throw e;
        }
        if (key.path !== null && staged !== null) writeKeyFile(key.path, nextBase64);
        if (staged !== null) rmSync(staged, { force: true });
        await stores.audit.append({
          actor: "cli",
          action: "secrets.rotate",
          subject: next.keyId,
          outcome: "ok",
          details: { rows: n, from: key.box.keyId },
        });
        out(`re-encrypted ${n} credential(s) with key ${next.keyId}`);
        if (key.path !== null) out(`the key file ${key.path} now holds the new key`);
        else out("now set RELAIS_SECRET_KEY to the new key before the next start");
      });
    });
}
