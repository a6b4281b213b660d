/**
 * `/docs` (swagger-ui) and `/docs/json` (the OpenAPI 3 document generated from the TypeBox route
 * schemas). Registered without encapsulation so @fastify/swagger sees every route of the app.
 * Routes marked `auth: "admin"` get a security requirement; the others may be called anonymously
 * (the core policy then decides per node).
 */
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";

const docs: FastifyPluginAsync = async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Relais northbound API",
        description:
          "sensiNact-compatible REST (/sensinact), admin API (/api/v1), health and metrics. Error codes: docs/errors.md. " +
          "WebSocket: GET /sensinact/ws (requests {requestId, method, uri, parameters}; SUBSCRIPTION_NOTIFICATION frames).",
        version: "0.1.0",
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer" },
          basic: { type: "http", scheme: "basic" },
        },
      },
      tags: [
        { name: "sensinact", description: "Access methods and descriptions (CONTRACTS.md §3)" },
        { name: "admin", description: "Administration (ADMIN level)" },
        { name: "health", description: "Liveness, readiness, metrics" },
      ],
    },
    transform: ({ schema, url, route }) => {
      const auth = route.config?.auth;
      const s = { ...(schema as Record<string, unknown>) };
      if (auth === "admin" || auth === "user") s["security"] = [{ bearer: [] }, { basic: [] }];
      else if (auth === "public") s["security"] = [];
      else s["security"] = [{}, { bearer: [] }, { basic: [] }];
      if (auth === "admin") s["x-relais-access"] = "ADMIN";
      return { schema: s, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { deepLinking: false } });
};

export const docsRoutes = fp(docs, { name: "relais-docs" });
