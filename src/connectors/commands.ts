/** Routing of SET/ACT commands to the command a connector's configuration declares for them. */
import { RelaisError } from "../core/errors.js";
import type { CommandDeclarationConfig } from "./config.js";
import type { ConnectorCommand } from "./ports.js";

export type CommandKey = Pick<ConnectorCommand, "method" | "provider" | "service" | "resource">;

/** The configured command for this method on this resource, if any. */
export function findCommand<C extends Pick<CommandDeclarationConfig, "on" | "target">>(
  commands: readonly C[],
  c: CommandKey,
): C | undefined {
  const target = `${c.provider}/${c.service}/${c.resource}`;
  return commands.find((x) => x.on === c.method && x.target === target);
}

/** The configured command, or RELAIS_ERR_CONNECTOR_NO_COMMAND naming the connector and target. */
export function requireCommand<C extends Pick<CommandDeclarationConfig, "on" | "target">>(
  connector: string,
  commands: readonly C[],
  c: CommandKey,
): C {
  const cmd = findCommand(commands, c);
  if (!cmd)
    throw new RelaisError("RELAIS_ERR_CONNECTOR_NO_COMMAND", undefined, {
      connector,
      method: c.method,
      target: `${c.provider}/${c.service}/${c.resource}`,
    });
  return cmd;
}
