/**
 * The XMPP stream parser used by XmppTransport instead of @xmpp/xml's (ltx) parser: same events
 * ("start" with the stream element, "element" for each top-level child once complete, "end",
 * "error"), same ltx Element objects, but built for large stanza bodies:
 *
 * - text is found with indexOf('<') and kept as slices, never walked character by character
 *   (ltx's parser steps through every character of a chunk that holds no '<', and re-joins the
 *   pending text with each new chunk: 54 % of a receiving gateway's CPU with 64 KiB SenML packs);
 * - bytes are decoded with a StringDecoder, so a multi-byte UTF-8 character split across two TCP
 *   reads stays one character ("°C" in a SenML unit);
 * - restricted XML (RFC 6120 §11.1): a DOCTYPE is an error, only the five predefined entities and
 *   character references are expanded; comments and processing instructions are skipped;
 * - one top-level element may not exceed `maxElementChars` (default 4 Mi characters), so a peer
 *   or server cannot grow the buffer without bound.
 */
import { EventEmitter } from "node:events";
import { StringDecoder } from "node:string_decoder";
import { xml, type Element } from "@xmpp/client";

export class StreamParseError extends Error {
  override readonly name = "StreamParseError";
}

const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function legalChar(n: number): boolean {
  return (
    n === 0x9 ||
    n === 0xa ||
    n === 0xd ||
    (n >= 0x20 && n <= 0xd7ff) ||
    (n >= 0xe000 && n <= 0xfffd) ||
    (n >= 0x10000 && n <= 0x10ffff)
  );
}

/** Expands the predefined entities and character references; anything else is an error. */
export function unescapeXml(s: string): string {
  let amp = s.indexOf("&");
  if (amp === -1) return s;
  let out = "";
  let last = 0;
  while (amp !== -1) {
    const semi = s.indexOf(";", amp + 1);
    if (semi === -1 || semi - amp > 10) throw new StreamParseError("an '&' that starts no entity");
    const name = s.slice(amp + 1, semi);
    let ch = PREDEFINED[name];
    if (ch === undefined) {
      const code =
        name.startsWith("#x") && /^#x[0-9a-fA-F]+$/.test(name)
          ? parseInt(name.slice(2), 16)
          : /^#[0-9]+$/.test(name)
            ? parseInt(name.slice(1), 10)
            : NaN;
      if (!legalChar(code)) throw new StreamParseError(`entity &${name}; is not allowed`);
      ch = String.fromCodePoint(code);
    }
    out += s.slice(last, amp) + ch;
    last = semi + 1;
    amp = s.indexOf("&", last);
  }
  return out + s.slice(last);
}

const INCOMPLETE = -1;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x9 || c === 0xa || c === 0xd;
}

export interface StreamParserOptions {
  /** Largest top-level element, in characters of markup and text (default 4 Mi). */
  maxElementChars?: number;
}

export class StreamParser extends EventEmitter {
  private readonly decoder = new StringDecoder("utf8");
  private readonly maxElementChars: number;
  /** Unparsed input; `pos` is where parsing resumes. */
  private buf = "";
  private pos = 0;
  /** Text of the current element that arrived in earlier writes (no '<' seen yet). */
  private pendingText: string[] = [];
  /** Characters taken so far by the top-level element being read. */
  private elementChars = 0;
  private readonly stack: Element[] = [];
  private root: Element | null = null;
  private ended = false;

  constructor(options: StreamParserOptions = {}) {
    super();
    this.maxElementChars = options.maxElementChars ?? 4 * 1024 * 1024;
  }

  write(data: string | Buffer): void {
    if (this.ended) return;
    const chunk = typeof data === "string" ? data : this.decoder.write(data);
    this.buf = this.pos < this.buf.length ? this.buf.slice(this.pos) + chunk : chunk;
    this.pos = 0;
    if (this.stack.length > 1) this.elementChars += chunk.length;
    try {
      this.parse();
    } catch (e) {
      // A listener's own exception is not a parse error: it goes up to the caller, as with ltx.
      if (!(e instanceof StreamParseError)) throw e;
      this.ended = true;
      this.emit("error", e);
    }
  }

  end(data?: string | Buffer): void {
    if (data !== undefined) this.write(data);
    this.ended = true;
  }

  private parse(): void {
    const buf = this.buf;
    for (;;) {
      if (this.stack.length > 1 && this.elementChars > this.maxElementChars)
        throw new StreamParseError(`an element larger than ${this.maxElementChars} characters`);
      const lt = buf.indexOf("<", this.pos);
      if (lt === -1) {
        // Text continues in the next write: keep it aside rather than re-joining it each time.
        if (this.pos < buf.length) this.pendingText.push(buf.slice(this.pos));
        this.pos = buf.length;
        return;
      }
      if (lt > this.pos || this.pendingText.length > 0) {
        const text =
          this.pendingText.length > 0
            ? this.pendingText.join("") + buf.slice(this.pos, lt)
            : buf.slice(this.pos, lt);
        this.pendingText = [];
        this.text(text, false);
      }
      this.pos = lt;
      const next = this.markup(buf, lt);
      if (next === INCOMPLETE) {
        if (buf.length - lt > this.maxElementChars)
          throw new StreamParseError(`a tag longer than ${this.maxElementChars} characters`);
        return;
      }
      this.pos = next;
      if (this.ended) return;
    }
  }

  /** Parses the markup at buf[p] === '<'; returns the index after it, or INCOMPLETE. */
  private markup(buf: string, p: number): number {
    if (p + 1 >= buf.length) return INCOMPLETE;
    const c = buf.charCodeAt(p + 1);
    if (c === 0x2f /* / */) {
      const gt = buf.indexOf(">", p + 2);
      if (gt === -1) return INCOMPLETE;
      this.close(buf.slice(p + 2, gt).trim());
      return gt + 1;
    }
    if (c === 0x3f /* ? */) {
      const end = buf.indexOf("?>", p + 2);
      return end === -1 ? INCOMPLETE : end + 2;
    }
    if (c === 0x21 /* ! */) {
      if (buf.startsWith("<![CDATA[", p)) {
        const end = buf.indexOf("]]>", p + 9);
        if (end === -1) return INCOMPLETE;
        this.text(buf.slice(p + 9, end), true);
        return end + 3;
      }
      if (buf.startsWith("<!--", p)) {
        const end = buf.indexOf("-->", p + 4);
        return end === -1 ? INCOMPLETE : end + 3;
      }
      const head = buf.slice(p, p + 9);
      if (head.length < 9 && ("<![CDATA[".startsWith(head) || "<!--".startsWith(head))) return INCOMPLETE;
      throw new StreamParseError("restricted XML: no DTD or declaration in an XMPP stream");
    }
    return this.startTag(buf, p);
  }

  private startTag(buf: string, p: number): number {
    let k = p + 1;
    while (k < buf.length) {
      const c = buf.charCodeAt(k);
      if (isSpace(c) || c === 0x2f || c === 0x3e) break;
      k++;
    }
    if (k >= buf.length) return INCOMPLETE;
    const name = buf.slice(p + 1, k);
    if (name === "") throw new StreamParseError("a tag without a name");
    const attrs: Record<string, string> = {};
    for (;;) {
      while (k < buf.length && isSpace(buf.charCodeAt(k))) k++;
      if (k >= buf.length) return INCOMPLETE;
      const c = buf.charCodeAt(k);
      if (c === 0x3e /* > */) {
        this.open(name, attrs, false);
        return k + 1;
      }
      if (c === 0x2f /* / */) {
        if (k + 1 >= buf.length) return INCOMPLETE;
        if (buf.charCodeAt(k + 1) !== 0x3e) throw new StreamParseError(`'/' inside the tag <${name}>`);
        this.open(name, attrs, true);
        return k + 2;
      }
      const nameStart = k;
      while (k < buf.length) {
        const d = buf.charCodeAt(k);
        if (d === 0x3d /* = */ || isSpace(d) || d === 0x3e || d === 0x2f) break;
        k++;
      }
      const attr = buf.slice(nameStart, k);
      while (k < buf.length && isSpace(buf.charCodeAt(k))) k++;
      if (k >= buf.length) return INCOMPLETE;
      if (buf.charCodeAt(k) !== 0x3d)
        throw new StreamParseError(`attribute ${attr} of <${name}> has no value`);
      k++;
      while (k < buf.length && isSpace(buf.charCodeAt(k))) k++;
      if (k >= buf.length) return INCOMPLETE;
      const q = buf[k];
      if (q !== '"' && q !== "'") throw new StreamParseError(`attribute ${attr} of <${name}> is not quoted`);
      const end = buf.indexOf(q, k + 1);
      if (end === -1) return INCOMPLETE;
      attrs[attr] = unescapeXml(buf.slice(k + 1, end));
      k = end + 1;
    }
  }

  private open(name: string, attrs: Record<string, string>, selfClosing: boolean): void {
    const el = xml(name, attrs);
    if (this.root === null) {
      this.root = el;
      this.stack.push(el);
      this.emit("start", el);
      if (selfClosing) this.close(name);
      return;
    }
    if (this.stack.length === 1) this.elementChars = 0;
    else this.stack[this.stack.length - 1]!.append(el);
    this.stack.push(el);
    if (selfClosing) this.close(name);
  }

  private close(name: string): void {
    const el = this.stack[this.stack.length - 1];
    if (el === undefined || el.name !== name)
      throw new StreamParseError(`</${name}> closes ${el === undefined ? "nothing" : `<${el.name}>`}`);
    this.stack.pop();
    if (el === this.root) {
      this.ended = true;
      this.emit("end", el);
      return;
    }
    if (this.stack.length === 1) {
      (el as Element & { parent?: Element }).parent = this.stack[0]!;
      this.emit("element", el);
    }
  }

  private text(text: string, cdata: boolean): void {
    // Text directly under the stream element (whitespace keepalives) belongs to no stanza.
    if (this.stack.length < 2) return;
    this.stack[this.stack.length - 1]!.append(cdata ? text : unescapeXml(text));
  }
}

/**
 * Makes an @xmpp/client connection parse with StreamParser: the connection builds its parser with
 * `new this.Parser()` at each stream (re)start and hands it the socket's data through `_onData`,
 * which decodes each read on its own; here the parser gets the bytes and decodes them itself.
 * Both are set on the instance before the first connect; `Parser` is a fixed accessor because
 * the client assigns its transport's parser class at each connect.
 */
export function useStreamParser(client: object): void {
  Object.defineProperty(client, "Parser", {
    configurable: true,
    get: () => StreamParser,
    set: () => undefined,
  });
  const c = client as { _onData: (data: Buffer) => void; parser: StreamParser | null };
  c._onData = function (this: typeof c, data: Buffer): void {
    this.parser?.write(data);
  };
}
