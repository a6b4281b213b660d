/**
 * Names and paths of the model.
 *
 * Rule: a provider, service or resource name is 1..64 characters from the SenML name charset
 * minus '/' (RFC 8428 §4.5.1: A-Z a-z 0-9 - : . / _), and starts with a letter or a digit.
 * '/' separates segments, so a SenML full name `provider/service/resource` maps 1:1 to a path.
 */
import { RelaisError } from "../errors.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9\-:._]{0,63}$/;

export function isValidName(name: string): boolean {
  return NAME.test(name);
}

export function assertName(name: string, what = "name"): void {
  if (!NAME.test(name)) {
    throw new RelaisError("RELAIS_ERR_MODEL_INVALID_NAME", `Invalid ${what}: ${JSON.stringify(name)}`, {
      name,
    });
  }
}

/** A parsed path: "/" (root), "/p", "/p/s" or "/p/s/r". */
export interface ModelPath {
  provider?: string;
  service?: string;
  resource?: string;
}

export interface ResourcePath {
  provider: string;
  service: string;
  resource: string;
}

/** Parses "/p/s/r" (leading slash optional, no trailing slash beyond the root). */
export function parsePath(uri: string): ModelPath {
  if (uri === "/" || uri === "") return {};
  const trimmed = uri.startsWith("/") ? uri.slice(1) : uri;
  const parts = trimmed.split("/");
  if (parts.length > 3) {
    throw new RelaisError("RELAIS_ERR_MODEL_INVALID_PATH", `Invalid path: ${uri}`, { uri });
  }
  for (const p of parts) assertName(p);
  const [provider, service, resource] = parts;
  const out: ModelPath = {};
  if (provider !== undefined) out.provider = provider;
  if (service !== undefined) out.service = service;
  if (resource !== undefined) out.resource = resource;
  return out;
}

/** Parses a full resource path "/p/s/r". */
export function parseResourcePath(uri: string): ResourcePath {
  const p = parsePath(uri);
  if (p.provider === undefined || p.service === undefined || p.resource === undefined) {
    throw new RelaisError("RELAIS_ERR_MODEL_INVALID_PATH", `Not a resource path: ${uri}`, { uri });
  }
  return { provider: p.provider, service: p.service, resource: p.resource };
}

export function formatPath(provider?: string, service?: string, resource?: string): string {
  if (provider === undefined) return "/";
  if (service === undefined) return `/${provider}`;
  if (resource === undefined) return `/${provider}/${service}`;
  return `/${provider}/${service}/${resource}`;
}
