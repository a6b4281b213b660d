/** Writes docs/errors.md and docs/config.md from their sources. `--check` fails when either is stale. */
import { readFileSync, writeFileSync } from "node:fs";
import { renderConfigDoc } from "./config-doc.js";
import { renderErrorsDoc } from "./errors-doc.js";

const docs: [URL, string][] = [
  [new URL("../docs/errors.md", import.meta.url), renderErrorsDoc()],
  [new URL("../docs/config.md", import.meta.url), renderConfigDoc()],
];
let stale = false;
for (const [path, doc] of docs) {
  if (process.argv.includes("--check")) {
    if (readFileSync(path, "utf8") !== doc) {
      console.error(`${path.pathname} is stale: run npm run docs:errors`);
      stale = true;
    }
  } else {
    writeFileSync(path, doc);
    console.log(`wrote ${path.pathname}`);
  }
}
if (stale) process.exit(1);
