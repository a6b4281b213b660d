/**
 * Source selectors of consumers: which resources of the local system a consumer extracts.
 *
 * A selector is one or more patterns separated by commas or spaces. A pattern has one to three
 * segments `provider/service/resource` (a leading `/` is allowed; missing trailing segments mean
 * "any"), and each segment is a name where `*` stands for any run of characters except `/`.
 * Examples: `meter-*` + `/power/` + `*`, `meter-12`, `a/b/c, d` (written apart here only because
 * a star followed by a slash would end this comment).
 */
import { RelaisError } from "../core/errors.js";

export interface ResourceName {
  provider: string;
  service: string;
  resource: string;
}

export interface Selector {
  readonly source: string;
  matches(name: ResourceName): boolean;
  /** True when the provider may hold matching resources (lets callers prune early). */
  matchesProvider(provider: string): boolean;
}

// The model's name charset (RFC 8428 §4.5.1 minus '/') plus the '*' wildcard.
const SEGMENT = /^[A-Za-z0-9\-:._*]{1,64}$/;

function compileSegment(seg: string, source: string): RegExp {
  if (!SEGMENT.test(seg)) {
    throw new RelaisError(
      "RELAIS_ERR_FED_CONSUMER_INVALID",
      `Invalid selector segment ${JSON.stringify(seg)}`,
      {
        selector: source,
        segment: seg,
      },
    );
  }
  const body = seg
    .split("*")
    .map((part) => part.replace(/[.\-:]/g, (c) => `\\${c}`))
    .join("[^/]*");
  return new RegExp(`^${body}$`);
}

interface Pattern {
  provider: RegExp;
  service: RegExp;
  resource: RegExp;
}

const ANY = /^[^/]*$/;

export function parseSelector(source: string): Selector {
  const items = source
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) {
    throw new RelaisError("RELAIS_ERR_FED_CONSUMER_INVALID", "Empty source selector", {
      selector: source,
    });
  }
  const patterns: Pattern[] = items.map((item) => {
    const segs = (item.startsWith("/") ? item.slice(1) : item).split("/");
    if (segs.length > 3 || segs.some((s) => s === "")) {
      throw new RelaisError(
        "RELAIS_ERR_FED_CONSUMER_INVALID",
        `Invalid selector ${JSON.stringify(item)}: expected provider[/service[/resource]]`,
        { selector: source },
      );
    }
    const [p, s, r] = segs.map((x) => compileSegment(x, source));
    return { provider: p ?? ANY, service: s ?? ANY, resource: r ?? ANY };
  });
  return {
    source,
    matches: (n) =>
      patterns.some(
        (p) => p.provider.test(n.provider) && p.service.test(n.service) && p.resource.test(n.resource),
      ),
    matchesProvider: (provider) => patterns.some((p) => p.provider.test(provider)),
  };
}
