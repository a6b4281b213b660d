/**
 * SenML XML representation (RFC 8428 §7): a <sensml> root in the urn:ietf:params:xml:ns:senml
 * namespace holding one empty <senml> element per record, the fields as attributes.
 *
 * A deliberately small, strict parser for that subset only (security requirement S5): no DOCTYPE,
 * no entity declarations or references beyond the five predefined ones and character references,
 * no processing instructions except the XML declaration, no CDATA, no element or attribute outside
 * the SenML namespace. Nothing is ever expanded, so memory stays proportional to the input.
 */
import { encodeBase64url } from "./base64url.js";
import { senmlError } from "./errors.js";
import { checkSize, utf8Text, type ParseOptions } from "./json.js";
import { LABELS, type ResolvedRecord, type SenmlPack, type SenmlRecord } from "./types.js";
import { validatePack } from "./validate.js";

export const SENML_XML_NAMESPACE = "urn:ietf:params:xml:ns:senml";

/** XML Schema types of the attributes (RFC 8428 §7, Table 7). */
const DOUBLE_LABELS = new Set(["bt", "bv", "bs", "v", "s", "t", "ut"]);
const DOUBLE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const XML_DECL =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.\d+\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])[Uu][Tt][Ff]-8\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\3)?[ \t\r\n]*\?>/;
/** Characters XML 1.0 (§2.2) does not allow anywhere. */
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NAME_START = /[A-Za-z_:]/;
const NAME_CHAR = /[A-Za-z0-9._:-]/;

class XmlReader {
  pos = 0;
  constructor(readonly text: string) {}

  fail(code: "RELAIS_ERR_SENML_SYNTAX" | "RELAIS_ERR_SENML_XML_FORBIDDEN", message: string): never {
    throw senmlError(code, message, undefined, undefined, { offset: this.pos });
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  /** Skip whitespace and comments; reject other markup that has no place in SenML XML. */
  skipMisc(): void {
    for (;;) {
      this.skipSpace();
      const t = this.text;
      if (t.startsWith("<!--", this.pos)) {
        const end = t.indexOf("-->", this.pos + 4);
        if (end < 0) this.fail("RELAIS_ERR_SENML_SYNTAX", "Unterminated comment");
        if (t.slice(this.pos + 4, end).includes("--"))
          this.fail("RELAIS_ERR_SENML_SYNTAX", "'--' inside a comment");
        this.pos = end + 3;
        continue;
      }
      if (t.startsWith("<!DOCTYPE", this.pos))
        this.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", "DOCTYPE is not allowed");
      if (t.startsWith("<![CDATA[", this.pos))
        this.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", "CDATA is not allowed");
      if (t.startsWith("<!", this.pos))
        this.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", "Markup declarations are not allowed");
      if (t.startsWith("<?", this.pos)) {
        this.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", "Processing instructions are not allowed");
      }
      return;
    }
  }

  name(): string {
    const t = this.text;
    const start = this.pos;
    if (start >= t.length || !NAME_START.test(t[start]!))
      this.fail("RELAIS_ERR_SENML_SYNTAX", "Expected a name");
    this.pos++;
    while (this.pos < t.length && NAME_CHAR.test(t[this.pos]!)) this.pos++;
    return t.slice(start, this.pos);
  }

  /** An attribute value with references replaced and whitespace normalised (XML 1.0 §3.3.3). */
  attributeValue(): string {
    const t = this.text;
    const quote = t[this.pos];
    if (quote !== '"' && quote !== "'")
      this.fail("RELAIS_ERR_SENML_SYNTAX", "Expected a quoted attribute value");
    this.pos++;
    let out = "";
    let from = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail("RELAIS_ERR_SENML_SYNTAX", "Unterminated attribute value");
      const c = t[this.pos]!;
      if (c === quote) break;
      if (c === "<") this.fail("RELAIS_ERR_SENML_SYNTAX", "'<' in an attribute value");
      if (c === "&") {
        out += t.slice(from, this.pos);
        out += this.reference();
        from = this.pos;
        continue;
      }
      if (c === "\r" || c === "\n" || c === "\t") {
        out += t.slice(from, this.pos);
        // End-of-line handling first (CR LF → LF), then each whitespace character → a space.
        this.pos += c === "\r" && t[this.pos + 1] === "\n" ? 2 : 1;
        out += " ";
        from = this.pos;
        continue;
      }
      this.pos++;
    }
    out += t.slice(from, this.pos);
    this.pos++;
    return out;
  }

  reference(): string {
    const t = this.text;
    const end = t.indexOf(";", this.pos);
    if (end < 0 || end - this.pos > 12) this.fail("RELAIS_ERR_SENML_SYNTAX", "Unterminated reference");
    const body = t.slice(this.pos + 1, end);
    let out: string;
    switch (body) {
      case "lt":
        out = "<";
        break;
      case "gt":
        out = ">";
        break;
      case "amp":
        out = "&";
        break;
      case "quot":
        out = '"';
        break;
      case "apos":
        out = "'";
        break;
      default: {
        const m = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
        if (m === null) {
          // Any other entity would need a DTD: refused, never expanded (S5).
          this.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", `Entity reference &${body}; is not allowed`);
        }
        const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10);
        const ok =
          code === 9 ||
          code === 10 ||
          code === 13 ||
          (code >= 0x20 && code <= 0xd7ff) ||
          (code >= 0xe000 && code <= 0xfffd) ||
          (code >= 0x10000 && code <= 0x10ffff);
        if (!ok)
          this.fail("RELAIS_ERR_SENML_SYNTAX", `Character reference &${body}; is not an XML character`);
        out = String.fromCodePoint(code);
      }
    }
    this.pos = end + 1;
    return out;
  }

  /** Attributes up to '>' or '/>'; returns whether the element was self-closing. */
  attributes(into: Map<string, string>): boolean {
    const t = this.text;
    for (;;) {
      const before = this.pos;
      this.skipSpace();
      if (t.startsWith("/>", this.pos)) {
        this.pos += 2;
        return true;
      }
      if (t[this.pos] === ">") {
        this.pos++;
        return false;
      }
      if (this.pos === before)
        this.fail("RELAIS_ERR_SENML_SYNTAX", "Expected whitespace before an attribute");
      const name = this.name();
      this.skipSpace();
      if (t[this.pos] !== "=") this.fail("RELAIS_ERR_SENML_SYNTAX", "Expected '=' after an attribute name");
      this.pos++;
      this.skipSpace();
      const value = this.attributeValue();
      if (into.has(name)) this.fail("RELAIS_ERR_SENML_SYNTAX", `Duplicate attribute ${name}`);
      into.set(name, value);
    }
  }

  /** After a non-empty start tag: only whitespace/comments, then the matching end tag. */
  endTag(name: string): void {
    this.skipMisc();
    const t = this.text;
    if (!t.startsWith(`</${name}`, this.pos)) {
      if (t[this.pos] === "<")
        this.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", `Only empty <${name}> elements are allowed`);
      this.fail("RELAIS_ERR_SENML_SYNTAX", `Text content is not allowed in <${name}>`);
    }
    this.pos += name.length + 2;
    this.skipSpace();
    if (t[this.pos] !== ">") this.fail("RELAIS_ERR_SENML_SYNTAX", `Malformed end tag </${name}>`);
    this.pos++;
  }
}

function checkNamespaceAttributes(reader: XmlReader, attrs: Map<string, string>, required: boolean): void {
  const ns = attrs.get("xmlns");
  if (ns === undefined ? required : ns !== SENML_XML_NAMESPACE) {
    reader.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", `The root must be in the ${SENML_XML_NAMESPACE} namespace`);
  }
  for (const key of attrs.keys()) {
    if (key.includes(":"))
      reader.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", `Attribute ${key} is outside the SenML namespace`);
  }
}

function typedAttribute(label: string, text: string, index: number): unknown {
  if (DOUBLE_LABELS.has(label)) {
    if (!DOUBLE.test(text)) {
      throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", `${label} must be an xs:double`, index, label);
    }
    return Number(text);
  }
  if (label === "bver") {
    if (!INTEGER.test(text)) {
      throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", "bver must be an xs:int", index, label);
    }
    return Number(text);
  }
  if (label === "vb") {
    if (text === "true" || text === "1") return true;
    if (text === "false" || text === "0") return false;
    throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", "vb must be an xs:boolean", index, label);
  }
  return text;
}

/** Parse and validate SenML XML (a <sensml> pack or stream). */
export function parseXml(input: string | Uint8Array, options?: ParseOptions): SenmlPack {
  return validatePack(decodeXml(input, options), "base64url");
}

/** Read the strict XML subset: one object of typed attributes per <senml>, not yet validated. */
export function decodeXml(input: string | Uint8Array, options?: ParseOptions): unknown {
  let text: string;
  if (typeof input === "string") {
    checkSize(input.length, options);
    text = input;
  } else {
    checkSize(input.length, options);
    text = utf8Text(input);
  }
  const reader = new XmlReader(text);
  const bad = NOT_XML_CHAR.exec(text);
  if (bad !== null) {
    reader.pos = bad.index;
    reader.fail("RELAIS_ERR_SENML_SYNTAX", "A character not allowed in XML 1.0");
  }
  if (text.charCodeAt(0) === 0xfeff) reader.pos = 1;
  // Only the XML declaration itself; any other PI (even <?xml-stylesheet …?>) is refused below.
  if (/^<\?xml[ \t\r\n]/.test(text.slice(reader.pos, reader.pos + 6))) {
    const decl = XML_DECL.exec(text.slice(reader.pos, reader.pos + 200));
    if (decl === null)
      return reader.fail("RELAIS_ERR_SENML_SYNTAX", "Malformed XML declaration (only UTF-8 is allowed)");
    reader.pos += decl[0].length;
  }
  reader.skipMisc();
  if (text[reader.pos] !== "<") reader.fail("RELAIS_ERR_SENML_SYNTAX", "Expected the <sensml> root element");
  reader.pos++;
  const rootName = reader.name();
  if (rootName.includes(":"))
    reader.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", `Element ${rootName} is outside the SenML namespace`);
  if (rootName !== "sensml") {
    throw senmlError(
      "RELAIS_ERR_SENML_NOT_A_PACK",
      `The root element must be <sensml>, not <${rootName}>`,
      undefined,
      undefined,
      {
        offset: reader.pos,
      },
    );
  }
  const rootAttrs = new Map<string, string>();
  const rootEmpty = reader.attributes(rootAttrs);
  checkNamespaceAttributes(reader, rootAttrs, true);
  const records: Record<string, unknown>[] = [];
  if (!rootEmpty) {
    for (;;) {
      reader.skipMisc();
      if (reader.pos >= text.length) reader.fail("RELAIS_ERR_SENML_SYNTAX", "Unterminated <sensml> element");
      if (text[reader.pos] !== "<")
        reader.fail("RELAIS_ERR_SENML_SYNTAX", "Text content is not allowed in <sensml>");
      if (text.startsWith("</", reader.pos)) {
        reader.endTag("sensml");
        break;
      }
      reader.pos++;
      const name = reader.name();
      if (name !== "senml") {
        reader.fail("RELAIS_ERR_SENML_XML_FORBIDDEN", `Element <${name}> is not a SenML record element`);
      }
      const attrs = new Map<string, string>();
      const empty = reader.attributes(attrs);
      checkNamespaceAttributes(reader, attrs, false);
      if (!empty) reader.endTag("senml");
      const index = records.length;
      const raw: Record<string, unknown> = {};
      for (const [label, value] of attrs) {
        if (label === "xmlns") continue;
        raw[label] = typedAttribute(label, value, index);
      }
      records.push(raw);
    }
  }
  reader.skipMisc();
  if (reader.pos < text.length) reader.fail("RELAIS_ERR_SENML_SYNTAX", "Content after the root element");
  return records;
}

function escapeAttribute(value: string, index: number, label: string): string {
  if (NOT_XML_CHAR.test(value)) {
    throw senmlError(
      "RELAIS_ERR_SENML_XML_UNREPRESENTABLE",
      `${label} contains a character XML 1.0 cannot carry`,
      index,
      label,
    );
  }
  return value.replace(/[&<>"\t\n\r]/g, (c) => {
    switch (c) {
      case "&":
        return "&amp;";
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case '"':
        return "&quot;";
      default:
        return `&#${c.charCodeAt(0)};`;
    }
  });
}

export interface XmlEncodeOptions {
  /** Prepend <?xml version="1.0" encoding="UTF-8"?>. */
  readonly declaration?: boolean;
}

/** Encode a pack or resolved records as SenML XML (RFC 8428 §7). */
export function encodeXml(
  pack: readonly (SenmlRecord | ResolvedRecord)[],
  options: XmlEncodeOptions = {},
): string {
  let s = options.declaration === true ? '<?xml version="1.0" encoding="UTF-8"?>' : "";
  s += `<sensml xmlns="${SENML_XML_NAMESPACE}">`;
  for (let i = 0; i < pack.length; i++) {
    const r = pack[i] as SenmlRecord;
    s += "<senml";
    for (const label of LABELS) {
      const value = r[label];
      if (value === undefined) continue;
      let text: string;
      if (typeof value === "string") text = escapeAttribute(value, i, label);
      else if (typeof value === "number") {
        if (!Number.isFinite(value)) {
          throw senmlError("RELAIS_ERR_SENML_FIELD_TYPE", `${label} must be a finite number`, i, label);
        }
        text = String(value);
      } else if (typeof value === "boolean") text = value ? "true" : "false";
      else text = encodeBase64url(value);
      s += ` ${label}="${text}"`;
    }
    s += "/>";
  }
  return `${s}</sensml>`;
}
