/** SenML error helpers: every rejection carries the record index and a JSON pointer (RFC 6901). */
import { RelaisError, type ErrorCode } from "../core/errors.js";

/** RFC 6901 escaping of one reference token. */
export function pointerToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** JSON pointer to a record (`/3`) or one of its fields (`/3/vd`); "" is the whole pack. */
export function pointerTo(index?: number, field?: string): string {
  if (index === undefined) return "";
  return field === undefined ? `/${index}` : `/${index}/${pointerToken(field)}`;
}

export function senmlError(
  code: ErrorCode,
  message: string,
  index?: number,
  field?: string,
  extra: Record<string, unknown> = {},
  cause?: unknown,
): RelaisError {
  const details: Record<string, unknown> = { pointer: pointerTo(index, field), ...extra };
  if (index !== undefined) details.index = index;
  if (field !== undefined) details.field = field;
  return new RelaisError(code, message, details, cause === undefined ? undefined : { cause });
}
