/** The strict XML subset (RFC 8428 §7) and the S5 security rules: no DOCTYPE, entities, PIs, foreign namespaces. */
import { describe, expect, it } from "vitest";
import { RelaisError } from "../core/errors.js";
import { encodeXml, parseXml } from "./index.js";

const NS = 'xmlns="urn:ietf:params:xml:ns:senml"';

function code(xml: string): string {
  try {
    parseXml(xml);
  } catch (e) {
    expect(e).toBeInstanceOf(RelaisError);
    expect(typeof (e as RelaisError).details.pointer).toBe("string");
    return (e as RelaisError).code;
  }
  return "accepted";
}

describe("SenML XML parser", () => {
  it("accepts the declaration, comments, both empty-element forms and the SensML root", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><sensml ${NS}>\n <senml n="a" v="1"/><!-- c -->\n <senml n='b' vb="true"></senml></sensml>\n`;
    expect(parseXml(xml)).toEqual([
      { n: "a", v: 1 },
      { n: "b", vb: true },
    ]);
  });

  it("decodes the predefined entities and character references, normalises literal whitespace", () => {
    const pack = parseXml(
      `<sensml ${NS}><senml n="a" vs="&lt;&amp;&gt;&quot;&apos;&#10;&#x41;\tx\r\ny"/></sensml>`,
    );
    expect(pack[0]!.vs).toBe(`<&>"'\nA x y`);
  });

  it("round-trips hard strings through the encoder", () => {
    const vs = `a&b<c>"d'\te\nf\r g ☃ 𝄞`;
    expect(parseXml(encodeXml([{ n: "x", vs }]))[0]!.vs).toBe(vs);
  });

  it.each([
    ["DOCTYPE", `<!DOCTYPE sensml><sensml ${NS}/>`, "RELAIS_ERR_SENML_XML_FORBIDDEN"],
    [
      "billion laughs",
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><sensml ${NS}><senml n="a" vs="&lol2;"/></sensml>`,
      "RELAIS_ERR_SENML_XML_FORBIDDEN",
    ],
    ["external entity", `<sensml ${NS}><senml n="a" vs="&xxe;"/></sensml>`, "RELAIS_ERR_SENML_XML_FORBIDDEN"],
    [
      "processing instruction",
      `<sensml ${NS}><?php x ?><senml n="a" v="1"/></sensml>`,
      "RELAIS_ERR_SENML_XML_FORBIDDEN",
    ],
    ["PI before root", `<?xml-stylesheet href="x"?><sensml ${NS}/>`, "RELAIS_ERR_SENML_XML_FORBIDDEN"],
    ["CDATA", `<sensml ${NS}><![CDATA[x]]></sensml>`, "RELAIS_ERR_SENML_XML_FORBIDDEN"],
    ["no namespace", `<sensml><senml n="a" v="1"/></sensml>`, "RELAIS_ERR_SENML_XML_FORBIDDEN"],
    [
      "foreign namespace",
      `<sensml xmlns="urn:evil"><senml n="a" v="1"/></sensml>`,
      "RELAIS_ERR_SENML_XML_FORBIDDEN",
    ],
    ["prefixed root", `<s:sensml xmlns:s="urn:ietf:params:xml:ns:senml"/>`, "RELAIS_ERR_SENML_XML_FORBIDDEN"],
    [
      "foreign attribute",
      `<sensml ${NS}><senml xmlns:e="urn:e" e:x="1" n="a" v="1"/></sensml>`,
      "RELAIS_ERR_SENML_XML_FORBIDDEN",
    ],
    [
      "xml:lang",
      `<sensml ${NS}><senml xml:lang="en" n="a" v="1"/></sensml>`,
      "RELAIS_ERR_SENML_XML_FORBIDDEN",
    ],
    [
      "child element",
      `<sensml ${NS}><senml n="a" v="1"><x/></senml></sensml>`,
      "RELAIS_ERR_SENML_XML_FORBIDDEN",
    ],
    ["other element", `<sensml ${NS}><record n="a" v="1"/></sensml>`, "RELAIS_ERR_SENML_XML_FORBIDDEN"],
    ["senml root", `<senml ${NS} n="a" v="1"/>`, "RELAIS_ERR_SENML_NOT_A_PACK"],
    ["empty pack", `<sensml ${NS}/>`, "RELAIS_ERR_SENML_NOT_A_PACK"],
    ["text content", `<sensml ${NS}>hello<senml n="a" v="1"/></sensml>`, "RELAIS_ERR_SENML_SYNTAX"],
    ["unclosed", `<sensml ${NS}><senml n="a" v="1"/>`, "RELAIS_ERR_SENML_SYNTAX"],
    ["duplicate attribute", `<sensml ${NS}><senml n="a" n="b" v="1"/></sensml>`, "RELAIS_ERR_SENML_SYNTAX"],
    ["trailing content", `<sensml ${NS}><senml n="a" v="1"/></sensml><x/>`, "RELAIS_ERR_SENML_SYNTAX"],
    ["latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><sensml ${NS}/>`, "RELAIS_ERR_SENML_SYNTAX"],
    ["control character", `<sensml ${NS}><senml n="a" vs="\u0001"/></sensml>`, "RELAIS_ERR_SENML_SYNTAX"],
    ["bad double", `<sensml ${NS}><senml n="a" v="abc"/></sensml>`, "RELAIS_ERR_SENML_FIELD_TYPE"],
    ["INF", `<sensml ${NS}><senml n="a" v="INF"/></sensml>`, "RELAIS_ERR_SENML_FIELD_TYPE"],
    ["bad boolean", `<sensml ${NS}><senml n="a" vb="yes"/></sensml>`, "RELAIS_ERR_SENML_FIELD_TYPE"],
    ["padded vd", `<sensml ${NS}><senml n="a" vd="AA=="/></sensml>`, "RELAIS_ERR_SENML_BASE64"],
    [
      "must understand",
      `<sensml ${NS}><senml n="a" v="1" x_="1"/></sensml>`,
      "RELAIS_ERR_SENML_MUST_UNDERSTAND",
    ],
  ])("%s → %s", (_name, xml, expected) => {
    expect(code(xml)).toBe(expected);
  });

  it("points at the record and field", () => {
    try {
      parseXml(`<sensml ${NS}><senml n="a" v="1"/><senml n="b" t="x" v="1"/></sensml>`);
      expect.unreachable();
    } catch (e) {
      expect((e as RelaisError).details.pointer).toBe("/1/t");
    }
  });

  it("an entity bomb is refused in time and memory proportional to its size", () => {
    const defs = Array.from({ length: 10 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join(
      "",
    );
    const bomb = `<?xml version="1.0"?><!DOCTYPE sensml [<!ENTITY l0 "lol">${defs}]><sensml ${NS}><senml n="a" vs="&l10;"/></sensml>`;
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    expect(code(bomb)).toBe("RELAIS_ERR_SENML_XML_FORBIDDEN");
    expect(performance.now() - started).toBeLessThan(50);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 * 1024);
  });

  it("refuses strings XML cannot carry when encoding", () => {
    try {
      encodeXml([{ n: "a", vs: "\u0000" }]);
      expect.unreachable();
    } catch (e) {
      expect((e as RelaisError).code).toBe("RELAIS_ERR_SENML_XML_UNREPRESENTABLE");
      expect((e as RelaisError).details.pointer).toBe("/0/vs");
    }
  });
});
