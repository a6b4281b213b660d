/**
 * The edge where error codes become HTTP statuses (STYLE.md "Errors": only the edges map codes).
 * Everything the framework raises (body too large, malformed JSON, schema validation…) is turned
 * into a RelaisError first, so every answer carries a stable code and never a bare 500.
 */
import { ERRORS, RelaisError, isErrorCode, isRelaisError } from "../../core/errors.js";

interface FrameworkError {
  code?: unknown;
  statusCode?: unknown;
  validation?: unknown;
  validationContext?: unknown;
  message?: unknown;
}

/** Any thrown value → a RelaisError with a catalogue code. Unknown errors are bugs (500). */
export function toRelaisError(e: unknown): RelaisError {
  if (isRelaisError(e)) return e;
  const fe = (typeof e === "object" && e !== null ? e : {}) as FrameworkError;
  const code = typeof fe.code === "string" ? fe.code : "";
  const message = typeof fe.message === "string" ? fe.message : "";
  // A RelaisError from another copy of the module (or a plain object carrying one of our codes).
  if (isErrorCode(code)) return new RelaisError(code, message || undefined);
  if (Array.isArray(fe.validation)) {
    return new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", message || undefined, {
      part: typeof fe.validationContext === "string" ? fe.validationContext : "request",
      problems: (fe.validation as { instancePath?: string; message?: string }[]).map((v) => ({
        path: v.instancePath ?? "",
        message: v.message ?? "",
      })),
    });
  }
  switch (code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
    case "FST_REQ_FILE_TOO_LARGE":
      return new RelaisError("RELAIS_ERR_HTTP_BODY_TOO_LARGE");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_TYPE":
      return new RelaisError("RELAIS_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "The JSON body is empty");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "Content-Length does not match the body");
    case "FST_ERR_NOT_FOUND":
      return new RelaisError("RELAIS_ERR_HTTP_NOT_FOUND");
    default:
      break;
  }
  if (e instanceof SyntaxError || code === "FST_ERR_CTP_INVALID_JSON_BODY")
    return new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", "The body is not valid JSON");
  const status = typeof fe.statusCode === "number" ? fe.statusCode : 500;
  if (status === 413) return new RelaisError("RELAIS_ERR_HTTP_BODY_TOO_LARGE");
  if (status === 415) return new RelaisError("RELAIS_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE");
  if (status === 404) return new RelaisError("RELAIS_ERR_HTTP_NOT_FOUND");
  // Other client errors of the framework (bad headers, URI errors…): the request was at fault.
  if (status >= 400 && status < 500)
    return new RelaisError("RELAIS_ERR_HTTP_BAD_REQUEST", message || undefined, { reason: code });
  return new RelaisError("RELAIS_ERR_INTERNAL_BUG", undefined, {}, { cause: e });
}

/** The `error` member of an envelope or of an admin/health answer. */
export function errorMember(e: RelaisError): {
  code: string;
  message: string;
  details?: Record<string, unknown>;
} {
  const publicDetails = e.status >= 500 ? {} : e.details;
  return Object.keys(publicDetails).length > 0
    ? { code: e.code, message: e.message, details: { ...publicDetails } }
    : { code: e.code, message: e.status >= 500 ? ERRORS[e.code].message : e.message };
}

/** Turn an error code into an error envelope (no `response`), as CONTRACTS.md §3 requires. */
export function errorEnvelope(
  e: unknown,
  type: string,
  uri: string,
): { error: { code: string; message: string }; statusCode: number; type: string; uri: string } {
  const re = toRelaisError(e);
  return { error: errorMember(re), statusCode: re.status, type, uri };
}

/** The codes whose HTTP status is 4xx: the request was at fault, nothing to log at error level. */
export function isClientError(e: RelaisError): boolean {
  return e.status < 500;
}
