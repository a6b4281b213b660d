#!/usr/bin/env node
/**
 * `npm run bench [-- name…]`: compiles bench/ (and the sources it imports) with tsc into
 * build/bench, then runs bench/run.js there. Users run compiled code (bin/relais runs dist/), so
 * that is what is measured: under tsx every closure also pays for esbuild's keepNames wrapper,
 * which costs the REST path about a tenth of its throughput.
 */
import { execFileSync } from "node:child_process";
import { existsSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "build", "bench");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
console.log("compiling bench/ with tsc → build/bench …");
rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.bench.json")], { stdio: "inherit" });
// The compiled sources find migrations/ and web/ relative to themselves, as dist/ does.
for (const dir of ["migrations", "web"]) {
  const link = join(out, dir);
  if (!existsSync(link)) symlinkSync(join(root, dir), link, "dir");
}
await import(pathToFileURL(join(out, "bench", "run.js")).href);
