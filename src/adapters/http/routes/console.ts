/**
 * The console slot at `/`: the files of web/ when it holds an index.html, otherwise a small page
 * linking /docs. A tiny static handler (no directory listing, no path outside the root, no dotfiles).
 */
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import type { FastifyPluginAsync } from "fastify";
import { RelaisError } from "../../../core/errors.js";

export interface ConsoleRoutesOptions {
  webRoot: string | null;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".map": "application/json",
};

const FALLBACK = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Relais</title></head>
<body><h1>Relais</h1><p>Federated IoT data gateway.</p>
<ul><li><a href="/docs">API documentation</a></li><li><a href="/health/ready">Readiness</a></li>
<li><a href="/sensinact/providers">Providers</a></li></ul></body></html>
`;

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, opts) => {
  const root = opts.webRoot === null ? null : resolve(opts.webRoot);
  const hasIndex = root !== null && (await isFile(join(root, "index.html")));

  app.get("/", { config: { auth: "public" }, schema: { hide: true } }, async (_req, reply) => {
    if (hasIndex) return reply.type(TYPES[".html"]!).send(await readFile(join(root, "index.html")));
    return reply.type(TYPES[".html"]!).send(FALLBACK);
  });

  if (!hasIndex) return;
  app.get<{ Params: { "*": string } }>(
    "/*",
    { config: { auth: "public" }, schema: { hide: true } },
    async (req, reply) => {
      const rel = normalize(req.params["*"]);
      const file = resolve(root, rel);
      const hidden = rel.split(sep).some((part) => part.startsWith("."));
      if (hidden || !file.startsWith(root + sep) || !(await isFile(file)))
        throw new RelaisError("RELAIS_ERR_HTTP_NOT_FOUND");
      return reply
        .type(TYPES[extname(file).toLowerCase()] ?? "application/octet-stream")
        .send(await readFile(file));
    },
  );
};
