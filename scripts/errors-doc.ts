import { ERRORS } from "../src/core/errors.js";

export function renderErrorsDoc(): string {
  const lines = [
    "# Error codes",
    "",
    "Generated from src/core/errors.ts by `npm run docs:errors`; a test fails when this file is stale.",
    "Every error Relais reports carries one of these codes (CLI: first word on stderr; REST: `error.code`",
    "in the envelope; XMPP: the text of the error stanza).",
    "",
    "| code | status | retryable | meaning | what to do |",
    "|---|---|---|---|---|",
  ];
  for (const [code, s] of Object.entries(ERRORS)) {
    lines.push(
      `| \`${code}\` | ${s.status} | ${s.retryable ? "yes" : "no"} | ${s.message} | ${s.fix.replace(/\|/g, "\\|")} |`,
    );
  }
  return lines.join("\n") + "\n";
}
