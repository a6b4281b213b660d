/** Writes docs/errors.md from the error catalogue (src/core/errors.ts). `--check` fails when stale. */
import { readFileSync, writeFileSync } from "node:fs";
import { renderErrorsDoc } from "./errors-doc.js";

const path = new URL("../docs/errors.md", import.meta.url);
const doc = renderErrorsDoc();
if (process.argv.includes("--check")) {
  const current = readFileSync(path, "utf8");
  if (current !== doc) {
    console.error("docs/errors.md is stale: run npm run docs:errors");
    process.exit(1);
  }
} else {
  writeFileSync(path, doc);
  console.log("wrote docs/errors.md");
}
