/**
 * Consumer id mapping: rewrites provider (and optionally service/resource) names before sending,
 * so data lands on existing objects of the receiving system (seed §4.1 "Consumer", CONTRACTS §4).
 *
 * Each level is either a template where `*` stands for the source name (`ext-*` turns `meter-1`
 * into `ext-meter-1`; `site-a` renames every provider to `site-a`), or a table of source → target
 * names (names absent from the table are kept).
 */
import { RelaisError } from "../core/errors.js";
import type { ResourceName } from "./selector.js";

export type NameRule = string | Readonly<Record<string, string>>;

export interface IdMapping {
  provider?: NameRule;
  service?: NameRule;
  resource?: NameRule;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9\-:._]{0,63}$/;

function applyRule(rule: NameRule | undefined, name: string): string {
  if (rule === undefined) return name;
  if (typeof rule === "string") return rule.includes("*") ? rule.split("*").join(name) : rule;
  return Object.hasOwn(rule, name) ? rule[name]! : name;
}

/** Throws RELAIS_ERR_FED_CONSUMER_INVALID when a rule can only produce invalid names. */
export function validateMapping(mapping: unknown): IdMapping {
  if (mapping === null || mapping === undefined) return {};
  if (typeof mapping !== "object" || Array.isArray(mapping)) {
    throw new RelaisError("RELAIS_ERR_FED_CONSUMER_INVALID", "The id mapping must be an object", {
      mapping,
    });
  }
  const out: IdMapping = {};
  for (const [level, rule] of Object.entries(mapping as Record<string, unknown>)) {
    if (level !== "provider" && level !== "service" && level !== "resource") {
      throw new RelaisError("RELAIS_ERR_FED_CONSUMER_INVALID", `Unknown mapping level ${level}`, {
        mapping,
      });
    }
    if (typeof rule === "string") {
      // A template with '*' must give a valid name for a valid one-letter source name.
      if (!NAME.test(rule.split("*").join("a"))) {
        throw new RelaisError("RELAIS_ERR_FED_CONSUMER_INVALID", `Invalid ${level} rule ${rule}`, {
          mapping,
        });
      }
      out[level] = rule;
    } else if (typeof rule === "object" && rule !== null && !Array.isArray(rule)) {
      const table: Record<string, string> = {};
      for (const [from, to] of Object.entries(rule as Record<string, unknown>)) {
        if (typeof to !== "string" || !NAME.test(to)) {
          throw new RelaisError("RELAIS_ERR_FED_CONSUMER_INVALID", `Invalid ${level} target for ${from}`, {
            mapping,
          });
        }
        table[from] = to;
      }
      out[level] = table;
    } else if (rule !== undefined && rule !== null) {
      throw new RelaisError("RELAIS_ERR_FED_CONSUMER_INVALID", `Invalid ${level} rule`, { mapping });
    }
  }
  return out;
}

export function mapName(mapping: IdMapping | null | undefined, name: ResourceName): ResourceName {
  if (!mapping) return name;
  return {
    provider: applyRule(mapping.provider, name.provider),
    service: applyRule(mapping.service, name.service),
    resource: applyRule(mapping.resource, name.resource),
  };
}
