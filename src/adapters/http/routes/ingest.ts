/**
 * `POST /api/v1/ingest/senml`: a SenML pack (application/senml+json or application/senml+cbor)
 * handed to the SenML connector's ingest function on behalf of the caller.
 */
import { Type } from "@sinclair/typebox";
import { RelaisError } from "../../../core/errors.js";
import type { FastifyPluginAsync } from "fastify";
import type { HttpCaller } from "../ports.js";
import { replies } from "../schemas.js";

/** The connector's entry point as the route needs it; `format` tells how `body` is encoded. */
export type SenmlIngest = (input: {
  caller: HttpCaller;
  body: Buffer;
  format: "json" | "cbor";
}) => Promise<unknown>;

export interface IngestRoutesOptions {
  ingest: SenmlIngest;
}

const TYPES = {
  "application/senml+json": "json",
  "application/json": "json",
  "application/senml+cbor": "cbor",
  "application/cbor": "cbor",
} as const;

export const ingestRoutes: FastifyPluginAsync<IngestRoutesOptions> = async (app, opts) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(Object.keys(TYPES), { parseAs: "buffer" }, (_req, body, done) => {
    done(null, body);
  });
  app.post<{ Body: Buffer | undefined }>(
    "/ingest/senml",
    {
      config: { auth: "user" },
      schema: {
        tags: ["admin"],
        summary: "Ingest a SenML pack (JSON or CBOR) into the local model",
        consumes: Object.keys(TYPES),
        response: replies({ 200: Type.Object({ result: Type.Unknown() }) }, [400, 401, 403, 404, 413, 415]),
      },
    },
    async (req) => {
      if (!Buffer.isBuffer(req.body) || req.body.length === 0)
        throw new RelaisError(
          "RELAIS_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE",
          "Send a SenML pack as application/senml+json or application/senml+cbor",
        );
      const ct = (req.headers["content-type"] ?? "")
        .split(";")[0]!
        .trim()
        .toLowerCase() as keyof typeof TYPES;
      const format = TYPES[ct];
      const result = await opts.ingest({ caller: req.caller, body: req.body, format });
      return { result: result ?? null };
    },
  );
};
