import { xml, type Element } from "@xmpp/client";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StreamParser, StreamParseError, unescapeXml } from "./stream-parser.js";

/** @xmpp/xml's own (ltx) parser, the oracle for whole, well-formed input. */
const LtxParser = (xml as unknown as { Parser: new () => StreamParser }).Parser;

interface Seen {
  start: string | null;
  elements: string[];
  end: boolean;
  errors: Error[];
}

function watch(p: StreamParser): Seen {
  const seen: Seen = { start: null, elements: [], end: false, errors: [] };
  p.on("start", (el: Element) => (seen.start = `${el.name} ${JSON.stringify(el.attrs)}`));
  p.on("element", (el: Element) => seen.elements.push(el.toString()));
  p.on("end", () => (seen.end = true));
  p.on("error", (e: Error) => seen.errors.push(e));
  return seen;
}

const senml = JSON.stringify([
  { bn: "urn:dev:ow:10e2073a01080063:", n: "temp", u: "°C", v: 23.1, vs: "a<b & \"c\" 'd' ✓ 𝄞" },
]);
const escText = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const STREAM =
  `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from="fed.local" version='1.0'>` +
  `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>` +
  ` \n ` +
  `<message from='a@fed.local/r' to="b@fed.local" id='m&amp;1' type='normal' data-x="1 &gt; 0 &#x263A; &#9731;">` +
  `<body>${escText(senml)}</body><request xmlns='urn:xmpp:receipts'/>` +
  `<relais xmlns="urn:relais:0" user='alice@a' consumer = "7" /><x><![CDATA[<raw> & ]]></x>` +
  `</message>` +
  `<!-- a comment --><iq type='result' id='p1'/>` +
  `<message id="big"><body>${"x".repeat(70_000)}&amp;${"y".repeat(10)}</body></message>` +
  `</stream:stream>`;

describe("StreamParser", () => {
  it("reads a stream like ltx does, whole or cut anywhere (bytes, even inside a UTF-8 character)", () => {
    const oracle = new LtxParser();
    const expected = watch(oracle);
    oracle.write(STREAM);
    expect(expected.errors).toEqual([]);
    expect(expected.elements).toHaveLength(4);

    const bytes = Buffer.from(STREAM, "utf8");
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const p = new StreamParser();
        const seen = watch(p);
        let from = 0;
        for (const c of [...points, bytes.length]) {
          p.write(bytes.subarray(from, c));
          from = c;
        }
        expect(seen.errors).toEqual([]);
        expect(seen.start).toBe(expected.start);
        expect(seen.elements).toEqual(expected.elements);
        expect(seen.end).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps a multi-byte character whole when a read ends inside it (every cut point)", () => {
    const doc = "<stream:stream><message u='°C'><body>°C ✓ 𝄞 é</body></message>";
    const bytes = Buffer.from(doc, "utf8");
    for (let cut = 1; cut < bytes.length; cut++) {
      const p = new StreamParser();
      const seen = watch(p);
      p.write(bytes.subarray(0, cut));
      p.write(bytes.subarray(cut));
      expect(seen.errors).toEqual([]);
      expect(seen.elements).toEqual(['<message u="°C"><body>°C ✓ 𝄞 é</body></message>']);
    }
  });

  it("gives top-level elements the stream as parent, and their children their own", () => {
    const p = new StreamParser();
    const got: Element[] = [];
    p.on("element", (el: Element) => got.push(el));
    p.write("<stream:stream xmlns='jabber:client'><message id='1'><body>hi</body></message>");
    const el = got[0] as Element & { parent?: Element };
    expect(el.parent?.name).toBe("stream:stream");
    expect(el.getChildText("body")).toBe("hi");
    expect(el.attrs["id"]).toBe("1");
  });

  it("reads a 1 MiB body arriving in 1 KiB pieces in linear time", () => {
    const body = "z".repeat(1024 * 1024);
    const doc = `<stream:stream><message><body>${body}</body></message>`;
    const p = new StreamParser();
    let text = "";
    p.on("element", (el: Element) => (text = el.getChildText("body") ?? ""));
    const t0 = performance.now();
    for (let i = 0; i < doc.length; i += 1024) p.write(doc.slice(i, i + 1024));
    const ms = performance.now() - t0;
    expect(text.length).toBe(body.length);
    expect(ms).toBeLessThan(500); // ~10 ms here; quadratic re-joining would take seconds
  });

  it.each([
    ["a DOCTYPE", "<!DOCTYPE stream [<!ENTITY x 'y'>]><stream:stream>"],
    ["an unknown entity", "<stream:stream><message><body>&xxe;</body></message>"],
    ["an illegal character reference", "<stream:stream><message><body>&#0;</body></message>"],
    ["a stray ampersand", "<stream:stream><message><body>a & b</body></message>"],
    ["a mismatched end tag", "<stream:stream><message><body>x</message>"],
    ["an unquoted attribute", "<stream:stream><message id=1></message>"],
  ])("refuses %s with an error event and reads nothing more", (_what, doc) => {
    const p = new StreamParser();
    const seen = watch(p);
    p.write(doc);
    p.write("<message><body>after</body></message>");
    expect(seen.errors).toHaveLength(1);
    expect(seen.errors[0]).toBeInstanceOf(StreamParseError);
    expect(seen.elements).toEqual([]);
  });

  it("refuses an element larger than its limit instead of buffering it", () => {
    const p = new StreamParser({ maxElementChars: 10_000 });
    const seen = watch(p);
    p.write("<stream:stream><message><body>");
    for (let i = 0; i < 20; i++) p.write("x".repeat(1000));
    expect(seen.errors.map((e) => e.message)).toEqual([expect.stringContaining("larger than 10000")]);
  });

  it("lets a listener's own exception through instead of calling it a parse error", () => {
    const p = new StreamParser();
    const seen = watch(p);
    p.on("element", () => {
      throw new Error("listener bug");
    });
    expect(() => {
      p.write("<stream:stream><iq id='1'/>");
    }).toThrow("listener bug");
    expect(seen.errors).toEqual([]);
  });

  it("expands only the predefined entities and character references", () => {
    expect(unescapeXml("a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#65;&#x42;")).toBe(
      `a <b> & "c" 'd' AB`,
    );
    expect(() => unescapeXml("&nbsp;")).toThrow(StreamParseError);
  });
});
