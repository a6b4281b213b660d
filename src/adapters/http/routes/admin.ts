/**
 * Admin API under /api/v1 (CONTRACTS.md §3, ADMIN level): apps, users, users/{id}/apps
 * (UserApp — credentials are write-only: answers only say `credentialsSet`), consumers, config,
 * outbox and inbox (list by status with keyset paging, retry, dead letters), jobs/{name}/run and
 * the audit log. Every change is written to the audit log with the caller as actor.
 * A store the composition root did not pass makes its routes answer 503.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import { RelaisError } from "../../../core/errors.js";
import type {
  App,
  AuditLog,
  ConfigEntry,
  FederationStores,
  InboxMessage,
  OutboxMessage,
  User,
  UserAppInfo,
} from "../../../federation/stores.js";
import type { HttpMetrics } from "../metrics.js";
import type { JobRunner } from "../ports.js";
import { replies } from "../schemas.js";

/** The stores behind the admin API; any may be absent (its routes then answer 503). */
export type AdminStores = Partial<FederationStores>;

/** What the runtime does with `config` entries written through the API. */
export interface ConfigHooks {
  /** Validate a value before it is stored (throw a RelaisError naming every problem). */
  validate?(key: string, value: unknown): void;
  /** Apply a stored or deleted entry now (e.g. reload connectors) rather than at the next poll. */
  changed?(key: string): Promise<void>;
}

export interface AdminRoutesOptions {
  stores: AdminStores;
  jobs?: JobRunner;
  metrics: HttpMetrics;
  configHooks?: ConfigHooks;
}

const ADMIN = { auth: "admin" as const };
const TAGS = ["admin"];
const ERR = [400, 401, 403, 404, 409, 503];

const Id = Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 });
const IdParams = Type.Object({ id: Id });
type IdParams = Static<typeof IdParams>;
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const AppS = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  jid: Type.String(),
  description: Nullable(Type.String()),
  defaultUserId: Nullable(Type.Integer()),
  createdAt: Type.Number(),
});
const NewAppS = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    jid: Type.String({ minLength: 3, maxLength: 3071, pattern: "^[^@/\\s]+@[^@/\\s]+$" }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
    defaultUserId: Type.Optional(Nullable(Id)),
  },
  { additionalProperties: false },
);
const UserS = Type.Object({
  id: Type.Integer(),
  federatedId: Type.String(),
  displayName: Nullable(Type.String()),
  createdAt: Type.Number(),
});
const NewUserS = Type.Object(
  {
    federatedId: Type.String({ minLength: 1, maxLength: 512 }),
    displayName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  },
  { additionalProperties: false },
);
/** A UserApp as the API shows it: never the credentials. */
const UserAppS = Type.Object({
  id: Type.Integer(),
  userId: Type.Integer(),
  appId: Type.Integer(),
  credentialsSet: Type.Boolean(),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
});
const UserAppParams = Type.Object({ id: Id, appId: Id });
const SetUserAppS = Type.Object(
  {
    credentials: Nullable(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "e.g. {username, password} or {token}; write-only, stored encrypted",
      }),
    ),
  },
  { additionalProperties: false },
);
const ConsumerS = Type.Object({
  id: Type.Integer(),
  userAppId: Type.Integer(),
  consumerAppId: Type.Integer(),
  selector: Type.String(),
  mapping: Type.Unknown(),
  enabled: Type.Boolean(),
  schedule: Nullable(Type.String()),
  realtime: Type.Boolean(),
  lastRunAt: Nullable(Type.Number()),
  createdAt: Type.Number(),
});
const NewConsumerS = Type.Object(
  {
    userAppId: Id,
    consumerAppId: Id,
    selector: Type.String({ minLength: 1, maxLength: 1000 }),
    mapping: Type.Optional(Type.Unknown()),
    enabled: Type.Optional(Type.Boolean()),
    schedule: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    realtime: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const ConfigS = Type.Object({ key: Type.String(), value: Type.Unknown(), updatedAt: Type.Number() });
const ConfigKey = Type.Object({
  key: Type.String({ minLength: 1, maxLength: 200, pattern: "^[A-Za-z0-9_.-]+$" }),
});

const QueueQuery = Type.Object({
  status: Type.Optional(
    Type.String({ maxLength: 200, description: "status, or several separated by commas" }),
  ),
  afterId: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
type QueueQuery = Static<typeof QueueQuery>;
const OutboxS = Type.Object({
  id: Type.Integer(),
  messageId: Type.String(),
  consumerId: Nullable(Type.Integer()),
  toJid: Type.String(),
  federatedUser: Nullable(Type.String()),
  body: Type.String(),
  recordCount: Type.Integer(),
  status: Type.String(),
  attempts: Type.Integer(),
  nextAttemptAt: Type.Number(),
  lastError: Nullable(Type.String()),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
});
const InboxS = Type.Object({
  id: Type.Integer(),
  senderJid: Type.String(),
  messageId: Type.String(),
  federatedUser: Nullable(Type.String()),
  consumerRef: Nullable(Type.String()),
  body: Type.String(),
  status: Type.String(),
  attempts: Type.Integer(),
  nextAttemptAt: Type.Number(),
  lastError: Nullable(Type.String()),
  receivedAt: Type.Number(),
  updatedAt: Type.Number(),
});
const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextAfterId: Nullable(Type.Integer()) });
const RetryBody = Type.Object(
  { ids: Type.Optional(Type.Array(Id, { maxItems: 1000, description: "row ids; omitted: every dead row" })) },
  { additionalProperties: false },
);
const Counts = Type.Record(Type.String(), Type.Integer());
const Removed = Type.Object({ removed: Type.Boolean() });

const AuditS = Type.Object({
  id: Type.Integer(),
  at: Type.Number(),
  actor: Type.String(),
  action: Type.String(),
  subject: Nullable(Type.String()),
  outcome: Type.String(),
  details: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
const AuditQuery = Type.Object({
  action: Type.Optional(Type.String({ maxLength: 200 })),
  actor: Type.Optional(Type.String({ maxLength: 512 })),
  beforeId: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});

/** Config keys whose values are secrets: shown as "***". */
const SECRET_KEY = /pass(word)?|secret|token|credential|private/i;

function need<T>(store: T | undefined, what: string): T {
  if (store === undefined)
    throw new RelaisError("RELAIS_ERR_HTTP_UNAVAILABLE", `The ${what} store is not available`, {
      store: what,
    });
  return store;
}

function found<T>(x: T | null, what: string, id: unknown): T {
  if (x === null) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", `No such ${what}`, { [what]: id });
  return x;
}

export function showUserApp(u: UserAppInfo): Static<typeof UserAppS> {
  return {
    id: u.id,
    userId: u.userId,
    appId: u.appId,
    credentialsSet: u.hasCredentials,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

function showConfig(e: ConfigEntry): ConfigEntry {
  return SECRET_KEY.test(e.key) && e.value !== null ? { ...e, value: "***" } : e;
}

function statuses<S extends string>(raw: string | undefined, allowed: readonly S[]): S[] | undefined {
  if (raw === undefined || raw === "") return undefined;
  const list = raw.split(",").map((s) => s.trim());
  for (const s of list)
    if (!(allowed as readonly string[]).includes(s))
      throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", `Unknown status "${s}"`, {
        parameter: "status",
        allowed,
      });
  return list as S[];
}

function page<T extends { id: number }>(
  items: T[],
  limit: number,
): { items: T[]; nextAfterId: number | null } {
  return { items, nextAfterId: items.length === limit ? (items[items.length - 1]?.id ?? null) : null };
}

const OUTBOX: readonly OutboxMessage["status"][] = ["pending", "sending", "sent", "delivered", "dead"];
const INBOX: readonly InboxMessage["status"][] = ["pending", "applying", "applied", "rejected", "dead"];

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app: FastifyInstance, opts) => {
  const s = opts.stores;

  async function audit(
    req: FastifyRequest,
    action: string,
    subject: string | null,
    details: Record<string, unknown> | null = null,
  ): Promise<void> {
    const log: AuditLog | undefined = s.audit;
    if (!log) return;
    try {
      await log.append({ actor: req.caller.name ?? "anonymous", action, subject, outcome: "ok", details });
    } catch (err) {
      req.log.warn({ err, action }, "audit log append failed");
    }
  }

  const schema = (summary: string, extra: Record<string, unknown>, ok: Record<number, TSchema>) => ({
    tags: TAGS,
    summary,
    ...extra,
    response: replies(ok, ERR),
  });

  // ---- apps ------------------------------------------------------------------------------------
  app.get("/apps", { config: ADMIN, schema: schema("List apps", {}, { 200: Type.Array(AppS) }) }, async () =>
    need(s.apps, "apps").list(),
  );
  app.post<{ Body: Static<typeof NewAppS> }>(
    "/apps",
    {
      config: ADMIN,
      schema: schema("Register an app (a federation member)", { body: NewAppS }, { 201: AppS }),
    },
    async (req, reply) => {
      const created: App = await need(s.apps, "apps").add(req.body);
      await audit(req, "admin.app.add", created.jid, { id: created.id });
      return reply.status(201).send(created);
    },
  );
  app.get<{ Params: IdParams }>(
    "/apps/:id",
    { config: ADMIN, schema: schema("Get an app", { params: IdParams }, { 200: AppS }) },
    async (req) => found(await need(s.apps, "apps").get(req.params.id), "app", req.params.id),
  );
  app.patch<{ Params: IdParams; Body: { defaultUserId: number | null } }>(
    "/apps/:id",
    {
      config: ADMIN,
      schema: schema(
        "Set an app's default user",
        {
          params: IdParams,
          body: Type.Object({ defaultUserId: Nullable(Id) }, { additionalProperties: false }),
        },
        { 200: AppS },
      ),
    },
    async (req) => {
      const apps = need(s.apps, "apps");
      found(await apps.get(req.params.id), "app", req.params.id);
      const updated = await apps.setDefaultUser(req.params.id, req.body.defaultUserId);
      await audit(req, "admin.app.default-user", updated.jid, { defaultUserId: req.body.defaultUserId });
      return updated;
    },
  );
  app.delete<{ Params: IdParams }>(
    "/apps/:id",
    { config: ADMIN, schema: schema("Remove an app", { params: IdParams }, { 200: Removed }) },
    async (req) => {
      const removed = await need(s.apps, "apps").remove(req.params.id);
      if (!removed) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", "No such app", { app: req.params.id });
      await audit(req, "admin.app.remove", String(req.params.id));
      return { removed };
    },
  );

  // ---- users -----------------------------------------------------------------------------------
  app.get(
    "/users",
    { config: ADMIN, schema: schema("List users", {}, { 200: Type.Array(UserS) }) },
    async () => need(s.users, "users").list(),
  );
  app.post<{ Body: Static<typeof NewUserS> }>(
    "/users",
    { config: ADMIN, schema: schema("Add a federated user", { body: NewUserS }, { 201: UserS }) },
    async (req, reply) => {
      const created: User = await need(s.users, "users").add(req.body);
      await audit(req, "admin.user.add", created.federatedId, { id: created.id });
      return reply.status(201).send(created);
    },
  );
  app.get<{ Params: IdParams }>(
    "/users/:id",
    { config: ADMIN, schema: schema("Get a user", { params: IdParams }, { 200: UserS }) },
    async (req) => found(await need(s.users, "users").get(req.params.id), "user", req.params.id),
  );
  app.delete<{ Params: IdParams }>(
    "/users/:id",
    { config: ADMIN, schema: schema("Remove a user", { params: IdParams }, { 200: Removed }) },
    async (req) => {
      const removed = await need(s.users, "users").remove(req.params.id);
      if (!removed) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", "No such user", { user: req.params.id });
      await audit(req, "admin.user.remove", String(req.params.id));
      return { removed };
    },
  );

  // ---- users/{id}/apps (UserApp) ---------------------------------------------------------------
  app.get<{ Params: IdParams }>(
    "/users/:id/apps",
    {
      config: ADMIN,
      schema: schema(
        "A user's apps (credentials never shown)",
        { params: IdParams },
        { 200: Type.Array(UserAppS) },
      ),
    },
    async (req) => {
      found(await need(s.users, "users").get(req.params.id), "user", req.params.id);
      return (await need(s.userApps, "userApps").list({ userId: req.params.id })).map(showUserApp);
    },
  );
  app.get<{ Params: Static<typeof UserAppParams> }>(
    "/users/:id/apps/:appId",
    { config: ADMIN, schema: schema("Get a user app", { params: UserAppParams }, { 200: UserAppS }) },
    async (req) => {
      const ua = await need(s.userApps, "userApps").find(req.params.id, req.params.appId);
      return showUserApp(found(ua, "userApp", `${req.params.id}/${req.params.appId}`));
    },
  );
  app.put<{ Params: Static<typeof UserAppParams>; Body: Static<typeof SetUserAppS> }>(
    "/users/:id/apps/:appId",
    {
      config: ADMIN,
      schema: schema(
        "Set a user's credentials for an app (write-only; null clears them)",
        { params: UserAppParams, body: SetUserAppS },
        { 200: UserAppS },
      ),
    },
    async (req) => {
      const ua = await need(s.userApps, "userApps").set(
        req.params.id,
        req.params.appId,
        req.body.credentials,
      );
      // The credentials themselves never reach the audit log.
      await audit(req, "admin.userapp.set", `${req.params.id}/${req.params.appId}`, {
        credentialsSet: ua.hasCredentials,
      });
      return showUserApp(ua);
    },
  );
  app.delete<{ Params: Static<typeof UserAppParams> }>(
    "/users/:id/apps/:appId",
    { config: ADMIN, schema: schema("Remove a user app", { params: UserAppParams }, { 200: Removed }) },
    async (req) => {
      const store = need(s.userApps, "userApps");
      const ua = found(await store.find(req.params.id, req.params.appId), "userApp", req.params.id);
      const removed = await store.remove(ua.id);
      await audit(req, "admin.userapp.remove", `${req.params.id}/${req.params.appId}`);
      return { removed };
    },
  );

  // ---- consumers -------------------------------------------------------------------------------
  app.get<{ Querystring: { enabled?: boolean } }>(
    "/consumers",
    {
      config: ADMIN,
      schema: schema(
        "List consumers",
        { querystring: Type.Object({ enabled: Type.Optional(Type.Boolean()) }) },
        { 200: Type.Array(ConsumerS) },
      ),
    },
    async (req) =>
      need(s.consumers, "consumers").list(
        req.query.enabled === undefined ? {} : { enabled: req.query.enabled },
      ),
  );
  app.post<{ Body: Static<typeof NewConsumerS> }>(
    "/consumers",
    { config: ADMIN, schema: schema("Add a consumer", { body: NewConsumerS }, { 201: ConsumerS }) },
    async (req, reply) => {
      const c = await need(s.consumers, "consumers").add(req.body);
      await audit(req, "admin.consumer.add", String(c.id), { selector: c.selector });
      return reply.status(201).send(c);
    },
  );
  app.get<{ Params: IdParams }>(
    "/consumers/:id",
    { config: ADMIN, schema: schema("Get a consumer", { params: IdParams }, { 200: ConsumerS }) },
    async (req) => found(await need(s.consumers, "consumers").get(req.params.id), "consumer", req.params.id),
  );
  app.patch<{ Params: IdParams; Body: { enabled: boolean } }>(
    "/consumers/:id",
    {
      config: ADMIN,
      schema: schema(
        "Enable or disable a consumer",
        { params: IdParams, body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }) },
        { 200: ConsumerS },
      ),
    },
    async (req) => {
      const store = need(s.consumers, "consumers");
      found(await store.get(req.params.id), "consumer", req.params.id);
      const c = await store.setEnabled(req.params.id, req.body.enabled);
      await audit(req, "admin.consumer.enable", String(c.id), { enabled: c.enabled });
      return c;
    },
  );
  app.delete<{ Params: IdParams }>(
    "/consumers/:id",
    { config: ADMIN, schema: schema("Remove a consumer", { params: IdParams }, { 200: Removed }) },
    async (req) => {
      const removed = await need(s.consumers, "consumers").remove(req.params.id);
      if (!removed)
        throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", "No such consumer", { consumer: req.params.id });
      await audit(req, "admin.consumer.remove", String(req.params.id));
      return { removed };
    },
  );

  // ---- config ----------------------------------------------------------------------------------
  app.get(
    "/config",
    {
      config: ADMIN,
      schema: schema("Runtime configuration (secrets shown as ***)", {}, { 200: Type.Array(ConfigS) }),
    },
    async () => (await need(s.config, "config").list()).map(showConfig),
  );
  app.get<{ Params: { key: string } }>(
    "/config/:key",
    { config: ADMIN, schema: schema("One configuration entry", { params: ConfigKey }, { 200: ConfigS }) },
    async (req) =>
      showConfig(found(await need(s.config, "config").get(req.params.key), "config", req.params.key)),
  );
  app.put<{ Params: { key: string }; Body: { value: unknown } }>(
    "/config/:key",
    {
      config: ADMIN,
      schema: schema(
        "Set a configuration entry",
        { params: ConfigKey, body: Type.Object({ value: Type.Unknown() }, { additionalProperties: false }) },
        { 200: ConfigS },
      ),
    },
    async (req) => {
      if (!("value" in req.body)) throw new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "value is missing");
      opts.configHooks?.validate?.(req.params.key, req.body.value);
      const e = await need(s.config, "config").set(req.params.key, req.body.value);
      await audit(req, "admin.config.set", req.params.key);
      await opts.configHooks?.changed?.(req.params.key);
      return showConfig(e);
    },
  );
  app.delete<{ Params: { key: string } }>(
    "/config/:key",
    {
      config: ADMIN,
      schema: schema("Delete a configuration entry", { params: ConfigKey }, { 200: Removed }),
    },
    async (req) => {
      const removed = await need(s.config, "config").delete(req.params.key);
      if (!removed)
        throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", "No such config key", { key: req.params.key });
      await audit(req, "admin.config.delete", req.params.key);
      await opts.configHooks?.changed?.(req.params.key);
      return { removed };
    },
  );

  // ---- outbox / inbox --------------------------------------------------------------------------
  interface QueueStore {
    list(page: { status?: never; afterId?: number; limit?: number }): Promise<{ id: number }[]>;
    countByStatus(): Promise<Record<string, number>>;
    retry(ids?: readonly number[]): Promise<number>;
  }
  const queue = (name: "outbox" | "inbox", item: TSchema, allowed: readonly string[]): void => {
    const store = (): QueueStore => need(s[name] as QueueStore | undefined, name);
    const list = async (q: QueueQuery, only?: string[]) => {
      const limit = q.limit ?? 100;
      const status = only ?? statuses(q.status, allowed);
      const rows = await store().list({
        ...(status ? { status: status as never } : {}),
        ...(q.afterId !== undefined ? { afterId: q.afterId } : {}),
        limit,
      });
      return page(rows, limit);
    };
    app.get<{ Querystring: QueueQuery }>(
      `/${name}`,
      {
        config: ADMIN,
        schema: schema(
          `List ${name} messages (filter by status, keyset paging with afterId)`,
          { querystring: QueueQuery },
          { 200: Page(item) },
        ),
      },
      async (req) => list(req.query),
    );
    app.get<{ Querystring: QueueQuery }>(
      `/${name}/dead`,
      {
        config: ADMIN,
        schema: schema(`Dead letters of the ${name}`, { querystring: QueueQuery }, { 200: Page(item) }),
      },
      async (req) => list(req.query, ["dead"]),
    );
    app.get(
      `/${name}/counts`,
      { config: ADMIN, schema: schema(`${name} rows by status`, {}, { 200: Counts }) },
      async () => store().countByStatus(),
    );
    app.post<{ Body: Static<typeof RetryBody> | undefined }>(
      `/${name}/retry`,
      {
        config: ADMIN,
        schema: schema(
          `Retry ${name} messages (dead letters by default) now`,
          { body: Type.Optional(RetryBody) },
          { 200: Type.Object({ retried: Type.Integer() }) },
        ),
      },
      async (req) => {
        const ids = req.body?.ids;
        const retried = await store().retry(ids);
        await audit(req, `admin.${name}.retry`, null, { ids: ids ?? "dead", retried });
        return { retried };
      },
    );
  };
  queue("outbox", OutboxS, OUTBOX);
  queue("inbox", InboxS, INBOX);

  // ---- jobs ------------------------------------------------------------------------------------
  app.post<{ Params: { name: string } }>(
    "/jobs/:name/run",
    {
      config: ADMIN,
      schema: schema(
        "Run a job now (push-outbox, fetch-outbox, fetch-inbox…)",
        {
          params: Type.Object({
            name: Type.String({ minLength: 1, maxLength: 100, pattern: "^[a-z0-9.-]+$" }),
          }),
        },
        { 200: Type.Object({ job: Type.String(), result: Type.Unknown() }) },
      ),
    },
    async (req) => {
      const jobs = need(opts.jobs, "jobs");
      const name = req.params.name;
      if (jobs.names !== undefined && !jobs.names.includes(name))
        throw new RelaisError("RELAIS_ERR_HTTP_UNKNOWN_JOB", undefined, { job: name, known: jobs.names });
      try {
        const result = await jobs.run(name);
        opts.metrics.jobRuns.inc({ job: name, result: "ok" });
        await audit(req, "admin.job.run", name);
        return { job: name, result: result ?? null };
      } catch (e) {
        opts.metrics.jobRuns.inc({ job: name, result: "error" });
        throw e;
      }
    },
  );

  // ---- audit log -------------------------------------------------------------------------------
  app.get<{ Querystring: Static<typeof AuditQuery> }>(
    "/audit",
    {
      config: ADMIN,
      schema: schema("Audit log, newest first", { querystring: AuditQuery }, { 200: Type.Array(AuditS) }),
    },
    async (req) => need(s.audit, "audit").list({ ...req.query, limit: req.query.limit ?? 100 }),
  );
};
