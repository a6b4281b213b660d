/**
 * Write-back templates for SET/ACT commands (URL, headers, body, MQTT topic and payload).
 * Placeholders: {provider} {service} {resource} {value} {param.NAME}. In a JSON body a string leaf
 * that is exactly one placeholder keeps the raw typed value (number stays a number); elsewhere the
 * value is interpolated as text (URL-encoded in URLs, JSON-encoded for objects).
 */
import type { ConnectorCommand } from "./ports.js";

export type CommandVars = ReadonlyMap<string, unknown>;

export function commandVars(cmd: ConnectorCommand): CommandVars {
  const m = new Map<string, unknown>([
    ["provider", cmd.provider],
    ["service", cmd.service],
    ["resource", cmd.resource],
  ]);
  if (cmd.method === "SET") m.set("value", cmd.value);
  else {
    m.set("value", cmd.parameters);
    for (const [k, v] of Object.entries(cmd.parameters)) m.set(`param.${k}`, v);
  }
  return m;
}

function text(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined) return "";
  return JSON.stringify(v);
}

const PLACEHOLDER = /\{([A-Za-z0-9_.-]+)\}/g;

/** Interpolates a string template; unknown placeholders are left as they are. */
export function renderText(template: string, vars: CommandVars, encode?: (s: string) => string): string {
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    vars.has(name) ? (encode ? encode(text(vars.get(name))) : text(vars.get(name))) : whole,
  );
}

/** Deep-renders a JSON template (objects, arrays, strings); see the module comment. */
export function renderJson(template: unknown, vars: CommandVars): unknown {
  if (typeof template === "string") {
    const whole = /^\{([A-Za-z0-9_.-]+)\}$/.exec(template);
    if (whole && vars.has(whole[1]!)) return vars.get(whole[1]!);
    return renderText(template, vars);
  }
  if (Array.isArray(template)) return template.map((t) => renderJson(t, vars));
  if (template !== null && typeof template === "object")
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, renderJson(v, vars)]));
  return template;
}
