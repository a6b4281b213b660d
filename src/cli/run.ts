/** `relais start` and `relais demo`: long-running commands over the composition root. */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { loadConfig, redactConfig } from "../config.js";
import { RelaisError } from "../core/errors.js";
import { createLogger } from "../log.js";

interface RunFlags {
  config?: string;
  host?: string;
  port?: string;
  dataDir?: string;
}

function withFlags(cmd: Command): Command {
  return cmd
    .option(
      "--config <file>",
      "JSON file of boot settings (keys as in docs/config.md); env and flags override it",
    )
    .option("--host <address>", "HTTP listen address (RELAIS_HTTP_HOST)")
    .option("--port <port>", "HTTP listen port (RELAIS_HTTP_PORT)")
    .option("--data-dir <dir>", "embedded database and key file (RELAIS_DATA_DIR)");
}

function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new RelaisError(
      "RELAIS_ERR_CONFIG_INVALID",
      `cannot read the config file ${path}: ${(e as Error).message}`,
      {
        problems: [`config file: ${(e as Error).message}`],
      },
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new RelaisError("RELAIS_ERR_CONFIG_INVALID", `the config file ${path} must hold a JSON object`, {
      problems: ["config file: not a JSON object"],
    });
  return parsed as Record<string, unknown>;
}

function configFrom(flags: RunFlags) {
  return loadConfig({
    ...(flags.config !== undefined ? { file: readConfigFile(flags.config) } : {}),
    env: process.env,
    flags: { httpHost: flags.host, httpPort: flags.port, dataDir: flags.dataDir },
  });
}

export function registerRunCommands(program: Command): void {
  withFlags(
    program
      .command("start")
      .description("run one gateway: REST + WebSocket + console, connectors, federation, jobs"),
  ).action(async (flags: RunFlags) => {
    const config = configFrom(flags);
    const logger = createLogger(config.logLevel);
    const { assemble, stopOnSignals } = await import("../main.js");
    logger.info({ config: redactConfig(config) }, "starting");
    const node = await assemble({ config, logger });
    // Signals stop the gateway during the start too (it may wait for its database, R6).
    const stopped = stopOnSignals([node], logger);
    await node.start();
    if (node.url === null) {
      await stopped; // stopped before it was up
      return;
    }
    process.stdout.write(
      `relais: gateway ${node.transport.jid} listening on ${node.url ?? "?"} (console ${node.url ?? "?"}/, API docs ${node.url ?? "?"}/docs)\n` +
        `relais: federation ${config.xmppService === null ? "offline (RELAIS_XMPP_SERVICE unset: the Outbox keeps filling)" : `over ${config.xmppService}`}\n`,
    );
    await stopped;
  });

  withFlags(
    program
      .command("demo")
      .description(
        "two gateways (alpha, beta) in one process with simulated devices and consumers both ways",
      ),
  ).action(async (flags: RunFlags) => {
    const config = configFrom(flags);
    const logger = createLogger(config.logLevel);
    const { stopOnSignals } = await import("../main.js");
    const { startDemo, DEMO_DEVICES } = await import("../demo.js");
    process.stdout.write(`relais demo: starting two gateways (embedded PGlite, a few seconds each)…\n`);
    const demo = await startDemo(config, logger);
    const via =
      demo.plan.transport === "xmpp"
        ? `the XMPP server ${config.xmppService ?? ""} (accounts alpha@${config.xmppDomain ?? ""} and beta@${config.xmppDomain ?? ""})`
        : "an in-process transport (set RELAIS_XMPP_SERVICE, RELAIS_XMPP_DOMAIN and RELAIS_XMPP_PASSWORD to use a real XMPP server)";
    const lines = [
      `relais demo: federation over ${via}`,
      ...demo.gateways.map((g, i) => {
        const name = demo.plan.gateways[i]!.name;
        const devices = DEMO_DEVICES[name].map((d) => d.id).join(", ");
        return `  ${name.padEnd(5)} ${g.url ?? "?"}/  (${demo.plan.gateways[i]!.jid}; devices ${devices})`;
      }),
      `  alpha's meter-1 appears on beta as ext-alpha-meter-1, beta's meter-7 on alpha as ext-beta-meter-7`,
      `  API docs at <url>/docs; stop with Ctrl-C`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    await stopOnSignals(demo.gateways, logger);
  });
}
