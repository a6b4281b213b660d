/**
 * `/health/live` (the process answers) and `/health/ready` (every registered probe is up: the
 * database, XMPP when configured, connectors). Ready answers 503 with the same per-component JSON
 * until all are up. A probe that throws or takes longer than 2 s counts as down.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsync } from "fastify";
import type { HealthProbe, ProbeResult } from "../ports.js";

export interface HealthRoutesOptions {
  probes: readonly HealthProbe[];
  timeoutMs?: number;
}

const Component = Type.Object({ up: Type.Boolean(), detail: Type.Optional(Type.String()) });
const Ready = Type.Object({
  status: Type.Union([Type.Literal("up"), Type.Literal("down")]),
  components: Type.Record(Type.String(), Component),
});

async function probe(p: HealthProbe, timeoutMs: number): Promise<ProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve(p.check()),
      new Promise<ProbeResult>((resolve) => {
        timer = setTimeout(() => {
          resolve({ up: false, detail: `no answer within ${timeoutMs} ms` });
        }, timeoutMs);
      }),
    ]);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return { up: false, detail: typeof code === "string" ? code : "probe failed" };
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, opts) => {
  const timeoutMs = opts.timeoutMs ?? 2000;
  app.get(
    "/health/live",
    {
      config: { auth: "public" },
      schema: {
        tags: ["health"],
        summary: "Liveness: the process answers",
        response: { 200: Type.Object({ status: Type.Literal("up") }) },
      },
    },
    async () => ({ status: "up" as const }),
  );
  app.get(
    "/health/ready",
    {
      config: { auth: "public" },
      schema: {
        tags: ["health"],
        summary: "Readiness: 200 when every component is up, 503 otherwise",
        response: { 200: Ready, 503: Ready },
      },
    },
    async (_req, reply) => {
      const results = await Promise.all(
        opts.probes.map(async (p) => [p.name, await probe(p, timeoutMs)] as const),
      );
      const components: Record<string, ProbeResult> = {};
      for (const [name, r] of results)
        components[name] = r.detail === undefined ? { up: r.up } : { up: r.up, detail: r.detail };
      const up = results.every(([, r]) => r.up);
      return reply.status(up ? 200 : 503).send({ status: up ? "up" : "down", components });
    },
  );
};
