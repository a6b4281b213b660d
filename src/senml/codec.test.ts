/** Representation detection and the format-independent entry points. */
import { describe, expect, it } from "vitest";
import { RelaisError } from "../core/errors.js";
import { detectFormat, encodePack, parsePack, type SenmlPack } from "./index.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("detectFormat / parsePack / encodePack", () => {
  it.each([
    ['[{"n":"a","v":1}]', "json"],
    [' \n\t[{"n":"a","v":1}]', "json"],
    ['\uFEFF<sensml xmlns="urn:ietf:params:xml:ns:senml"/>', "xml"],
    ["  <sensml/>", "xml"],
    ["hello", undefined],
    ["", undefined],
  ])("%j → %s", (text, format) => {
    expect(detectFormat(bytes(text))).toBe(format);
  });

  it("detects CBOR arrays, definite and indefinite", () => {
    expect(detectFormat(new Uint8Array([0x81, 0xa0]))).toBe("cbor");
    expect(detectFormat(new Uint8Array([0x9f, 0xff]))).toBe("cbor");
    expect(detectFormat(new Uint8Array([0xa1]))).toBeUndefined();
  });

  it("every representation parses back to the same pack", () => {
    const pack: SenmlPack = [
      { bn: "p/s/", bt: 1.7e9, n: "r", u: "W", v: 1.5 },
      { n: "q", vd: new Uint8Array([255]) },
    ];
    for (const format of ["json", "cbor", "xml"] as const) {
      const encoded = encodePack(pack, format);
      expect(parsePack(encoded)).toEqual(pack);
      expect(parsePack(encoded, format)).toEqual(pack);
    }
  });

  it("undetectable input is a syntax error with a pointer", () => {
    try {
      parsePack(bytes("hello"));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RelaisError);
      expect((e as RelaisError).code).toBe("RELAIS_ERR_SENML_SYNTAX");
      expect((e as RelaisError).details.pointer).toBe("");
    }
  });
});
