/**
 * `relais senml resolve|convert` (CONTRACTS §1): thin commands over src/senml. Invalid input
 * throws a RelaisError before anything reaches stdout; runCli prints `CODE: message` and exits 2.
 */
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { RelaisError } from "../core/errors.js";
import { encodeJson, encodePack, parsePack, resolveInput, type SenmlFormat } from "../senml/index.js";

const FORMATS = ["json", "cbor", "xml"] as const;

function readInput(file: string | undefined): Uint8Array {
  try {
    return file === undefined || file === "-" ? readFileSync(0) : readFileSync(file);
  } catch (e) {
    throw new RelaisError(
      "RELAIS_ERR_CLI_USAGE",
      `Cannot read ${file ?? "stdin"}: ${(e as Error).message}`,
      { file },
      { cause: e },
    );
  }
}

function parseNow(text: string | undefined): number {
  if (text === undefined) return Date.now() / 1000;
  const now = Number(text);
  if (text.trim() === "" || !Number.isFinite(now)) {
    throw new RelaisError(
      "RELAIS_ERR_CLI_USAGE",
      `--now must be a number of seconds, not ${JSON.stringify(text)}`,
    );
  }
  return now;
}

function write(data: string | Uint8Array): Promise<void> {
  return new Promise((ok, fail) => {
    process.stdout.write(data, (e) => {
      if (e) fail(e);
      else ok();
    });
  });
}

export function registerSenmlCommands(program: Command): void {
  const senml = program.command("senml").description("SenML (RFC 8428) tools");

  senml
    .command("resolve")
    .description("Print the resolved records (RFC 8428 §4.6) of a SenML pack as a JSON array")
    .argument("[file]", "input file, or - for stdin", "-")
    .option("--now <seconds>", "current time for relative times (default: now)")
    .addOption(new Option("--in <format>", "input representation (default: detected)").choices(FORMATS))
    .action(async (file: string, opts: { now?: string; in?: SenmlFormat }) => {
      const now = parseNow(opts.now);
      const records = resolveInput(readInput(file), { now, format: opts.in });
      await write(`${encodeJson(records)}\n`);
    });

  senml
    .command("convert")
    .description("Change the representation of a SenML pack without resolving it")
    .argument("[file]", "input file, or - for stdin", "-")
    .addOption(new Option("--to <format>", "output representation").choices(FORMATS).makeOptionMandatory())
    .addOption(new Option("--in <format>", "input representation (default: detected)").choices(FORMATS))
    .action(async (file: string, opts: { to: SenmlFormat; in?: SenmlFormat }) => {
      const pack = parsePack(readInput(file), opts.in);
      const out = encodePack(pack, opts.to);
      await write(opts.to === "cbor" ? out : `${new TextDecoder().decode(out)}\n`);
    });
}
