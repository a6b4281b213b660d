/**
 * The `relais` command line: thin commands over the same use cases as the API.
 * Each command group lives in its own module and registers itself here.
 */
import { Command, CommanderError } from "commander";
import { isRelaisError } from "../core/errors.js";
import { registerSenmlCommands } from "./senml.js";
import { registerAdminCommands } from "./admin.js";
import { registerRunCommands } from "./run.js";
import { registerJobCommands } from "./jobs.js";

export function buildProgram(): Command {
  const program = new Command("relais")
    .description("Relais: federated IoT data gateway (sensiNact-style core, SenML over XMPP)")
    .version("0.1.0")
    .exitOverride()
    // runCli prints the one error line (code first); commander stays quiet about errors
    .configureOutput({ outputError: () => undefined });
  // command groups register here (one import and one call each)
  registerSenmlCommands(program);
  registerAdminCommands(program);
  registerRunCommands(program);
  registerJobCommands(program);
  return program;
}

/** Print a RelaisError as one line starting with its code; exit status 2 for usage and input errors. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0;
      process.stderr.write(`RELAIS_ERR_CLI_USAGE: ${e.message.replace(/^error: /, "")} (see --help)\n`);
      return 2;
    }
    if (isRelaisError(e)) {
      process.stderr.write(`${e.code}: ${e.message}\n`);
      return e.status >= 500 ? 1 : 2;
    }
    process.stderr.write(`RELAIS_ERR_INTERNAL_BUG: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

const isMain =
  process.argv[1] !== undefined && /(?:cli[/\\]index\.[jt]s|bin[/\\]relais(?:\.js)?)$/.test(process.argv[1]);
if (isMain) {
  process.exitCode = await runCli(process.argv.slice(2));
}
