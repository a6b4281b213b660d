/** `/metrics` in the Prometheus text format (ADMIN unless the operator made it public). */
import type { FastifyPluginAsync } from "fastify";
import type { HttpMetrics } from "../metrics.js";

export interface MetricsRoutesOptions {
  metrics: HttpMetrics;
  public: boolean;
}

export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, opts) => {
  const registry = opts.metrics.registry;
  app.get(
    "/metrics",
    {
      config: { auth: opts.public ? "public" : "admin" },
      schema: {
        tags: ["health"],
        summary: "Prometheus metrics",
        produces: ["text/plain"],
        ...(opts.public ? {} : { security: [{ bearer: [] }, { basic: [] }] }),
      },
    },
    async (_req, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
};
