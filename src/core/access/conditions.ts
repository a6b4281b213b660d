/**
 * Subscription conditions (CONTRACTS.md §3): `{operator, operand}` with operators
 * = != < <= > >= changed. All conditions of a subscription must hold (AND).
 * They are evaluated on the event's value: the new value (DATA), the metadata value (METADATA) or
 * the lifecycle action name, e.g. "RESOURCE_CREATED" (LIFECYCLE).
 */
import { RelaisError } from "../errors.js";

export const OPERATORS = ["=", "!=", "<", "<=", ">", ">=", "changed"] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Condition {
  operator: Operator;
  operand?: unknown;
}

function badCondition(message: string, index: number): RelaisError {
  return new RelaisError("RELAIS_ERR_ACCESS_BAD_CONDITION", message, { index });
}

/** Validates untrusted conditions. */
export function parseConditions(raw: unknown): Condition[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw badCondition("conditions must be an array", -1);
  return raw.map((c: unknown, i) => {
    if (typeof c !== "object" || c === null) throw badCondition("A condition is an object", i);
    const { operator, operand } = c as Record<string, unknown>;
    if (typeof operator !== "string" || !(OPERATORS as readonly string[]).includes(operator)) {
      throw badCondition(`Unknown operator ${String(operator)}`, i);
    }
    const op = operator as Operator;
    if (op === "changed") return { operator: op };
    if (operand === undefined) throw badCondition(`Operator ${op} needs an operand`, i);
    if (
      (op === "<" || op === "<=" || op === ">" || op === ">=") &&
      typeof operand !== "number" &&
      typeof operand !== "string"
    ) {
      throw badCondition(`Operator ${op} needs a number or string operand`, i);
    }
    return { operator: op, operand };
  });
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function compare(a: unknown, b: unknown): number | null {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return null; // incomparable: the condition does not hold
}

/** True when every condition holds for `value` (previous value `oldValue` for "changed"). */
export function matches(conditions: readonly Condition[], value: unknown, oldValue: unknown): boolean {
  for (const c of conditions) {
    let ok: boolean;
    switch (c.operator) {
      case "changed":
        ok = !jsonEqual(value, oldValue);
        break;
      case "=":
        ok = jsonEqual(value, c.operand);
        break;
      case "!=":
        ok = !jsonEqual(value, c.operand);
        break;
      default: {
        const d = compare(value, c.operand);
        ok =
          d !== null &&
          (c.operator === "<" ? d < 0 : c.operator === "<=" ? d <= 0 : c.operator === ">" ? d > 0 : d >= 0);
      }
    }
    if (!ok) return false;
  }
  return true;
}
