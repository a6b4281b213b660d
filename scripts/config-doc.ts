import { CONFIG_SCHEMA } from "../src/config.js";

/** docs/config.md, rendered from the one configuration schema (src/config.ts). */
export function renderConfigDoc(): string {
  const lines = [
    "# Boot configuration",
    "",
    "Generated from src/config.ts by `npm run docs:errors`; a test fails when this file is stale.",
    "Layers: defaults < config file (`relais start --config FILE`, a JSON object keyed by the names",
    "below) < environment < command-line flags. Everything is validated at once; every problem is",
    "reported together with the code `RELAIS_ERR_CONFIG_INVALID`. Runtime settings (schedules,",
    "connectors, federation mode) live in the `config` table instead: `relais config get|set`.",
    "",
    "| key (config file) | environment | default | meaning |",
    "|---|---|---|---|",
  ];
  for (const [key, f] of Object.entries(CONFIG_SCHEMA)) {
    lines.push(
      `| \`${key}\` | \`${f.env}\` | ${f.default === null ? "unset" : `\`${String(f.default)}\``} | ${f.description} |`,
    );
  }
  return lines.join("\n") + "\n";
}
