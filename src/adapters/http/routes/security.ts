/**
 * Accounts, API tokens and the policy tree (ADMIN), over the core's administration use cases:
 * /api/v1/accounts, /api/v1/tokens, /api/v1/policy. Passwords are write-only; a new token is shown
 * once in the creation answer and only its SHA-256 id afterwards.
 */
import { Type, type Static } from "@sinclair/typebox";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { RelaisError } from "../../../core/errors.js";
import type { AuditLog } from "../../../federation/stores.js";
import type { SecurityAdmin } from "../ports.js";
import { replies } from "../schemas.js";

export interface SecurityRoutesOptions {
  security: SecurityAdmin | undefined;
  audit: AuditLog | undefined;
}

const ADMIN = { auth: "admin" as const };
const ERR = [400, 401, 403, 404, 409, 503];
const Level = Type.Union([Type.Literal("AUTHENTICATED"), Type.Literal("ADMIN"), Type.Literal("OWNER")]);
const AccountS = Type.Object({
  name: Type.String(),
  level: Type.String(),
  hasPassword: Type.Boolean(),
  createdAt: Type.Number(),
});
const AccountName = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) });
const NewAccountS = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    level: Level,
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, writeOnly: true })),
  },
  { additionalProperties: false },
);
const AccountChangesS = Type.Object(
  {
    level: Type.Optional(Level),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, writeOnly: true })),
  },
  { additionalProperties: false },
);
const TokenS = Type.Object({
  id: Type.String(),
  account: Type.String(),
  label: Type.String(),
  createdAt: Type.Number(),
  expiresAt: Type.Union([Type.Number(), Type.Null()]),
});
const NewTokenS = Type.Object(
  {
    account: Type.String({ minLength: 1, maxLength: 128 }),
    label: Type.String({ maxLength: 200 }),
    ttlMs: Type.Optional(Type.Integer({ minimum: 1000 })),
  },
  { additionalProperties: false },
);

export const securityRoutes: FastifyPluginAsync<SecurityRoutesOptions> = async (app, opts) => {
  const sec = (): SecurityAdmin => {
    if (!opts.security)
      throw new RelaisError("RELAIS_ERR_HTTP_UNAVAILABLE", "Account administration is not available");
    return opts.security;
  };
  const audit = async (req: FastifyRequest, action: string, subject: string | null): Promise<void> => {
    try {
      await opts.audit?.append({
        actor: req.caller.name ?? "anonymous",
        action,
        subject,
        outcome: "ok",
        details: null,
      });
    } catch (err) {
      req.log.warn({ err, action }, "audit log append failed");
    }
  };
  const schema = (summary: string, extra: Record<string, unknown>, ok: Record<number, unknown>) => ({
    tags: ["admin"],
    summary,
    ...extra,
    response: replies(ok as never, ERR),
  });

  app.get(
    "/accounts",
    { config: ADMIN, schema: schema("Local accounts", {}, { 200: Type.Array(AccountS) }) },
    async (req) => sec().listAccounts(req.caller),
  );
  app.post<{ Body: Static<typeof NewAccountS> }>(
    "/accounts",
    {
      config: ADMIN,
      schema: schema("Create an account (password write-only)", { body: NewAccountS }, { 201: AccountS }),
    },
    async (req, reply) => {
      const a = await sec().createAccount(req.caller, req.body);
      await audit(req, "admin.account.add", a.name);
      return reply.status(201).send(a);
    },
  );
  app.patch<{ Params: Static<typeof AccountName>; Body: Static<typeof AccountChangesS> }>(
    "/accounts/:name",
    {
      config: ADMIN,
      schema: schema(
        "Change an account's level or password",
        { params: AccountName, body: AccountChangesS },
        { 200: AccountS },
      ),
    },
    async (req) => {
      const a = await sec().updateAccount(req.caller, req.params.name, req.body);
      await audit(req, "admin.account.update", a.name);
      return a;
    },
  );
  app.delete<{ Params: Static<typeof AccountName> }>(
    "/accounts/:name",
    {
      config: ADMIN,
      schema: schema(
        "Delete an account and its tokens",
        { params: AccountName },
        { 200: Type.Object({ removed: Type.Boolean() }) },
      ),
    },
    async (req) => {
      await sec().deleteAccount(req.caller, req.params.name);
      await audit(req, "admin.account.remove", req.params.name);
      return { removed: true };
    },
  );

  app.get<{ Querystring: { account?: string } }>(
    "/tokens",
    {
      config: ADMIN,
      schema: schema(
        "API tokens (ids only)",
        { querystring: Type.Object({ account: Type.Optional(Type.String({ maxLength: 128 })) }) },
        { 200: Type.Array(TokenS) },
      ),
    },
    async (req) => sec().listTokens(req.caller, req.query.account),
  );
  app.post<{ Body: Static<typeof NewTokenS> }>(
    "/tokens",
    {
      config: ADMIN,
      schema: schema(
        "Create an API token: the token is in this answer only",
        { body: NewTokenS },
        { 201: Type.Object({ token: Type.String(), info: TokenS }) },
      ),
    },
    async (req, reply) => {
      const t = await sec().createToken(req.caller, req.body);
      await audit(req, "admin.token.add", t.info.account);
      return reply.status(201).send(t);
    },
  );
  app.delete<{ Params: { id: string } }>(
    "/tokens/:id",
    {
      config: ADMIN,
      schema: schema(
        "Revoke an API token",
        { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }) },
        { 200: Type.Object({ removed: Type.Boolean() }) },
      ),
    },
    async (req) => {
      const removed = await sec().revokeToken(req.caller, req.params.id);
      if (!removed) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", "No such token");
      await audit(req, "admin.token.revoke", null);
      return { removed };
    },
  );

  app.get(
    "/policy",
    { config: ADMIN, schema: schema("The access policy tree", {}, { 200: Type.Unknown() }) },
    async (req) => sec().getPolicy(req.caller),
  );
  app.put<{ Body: unknown }>(
    "/policy",
    {
      config: ADMIN,
      schema: schema(
        "Replace the access policy tree (validated first)",
        { body: Type.Object({}, { additionalProperties: true }) },
        { 200: Type.Unknown() },
      ),
    },
    async (req) => {
      const doc = await sec().setPolicy(req.caller, req.body);
      await audit(req, "admin.policy.set", null);
      return doc;
    },
  );
};
