import { describe, expect, it } from "vitest";
import { parseUri } from "./ws.js";
import { parseAuthorization, tokenFromSubprotocols } from "../auth.js";

describe("WebSocket uri", () => {
  it("accepts the short and the REST forms", () => {
    expect(parseUri("/p/s/r")).toEqual({ segments: ["p", "s", "r"] });
    expect(parseUri("/providers/p/services/s/resources/r")).toEqual({ segments: ["p", "s", "r"] });
    expect(parseUri("/providers/p/services/s/resources/r/GET")).toEqual({
      segments: ["p", "s", "r"],
      method: "GET",
    });
    expect(parseUri("/providers/a%2Fb")).toEqual({ segments: ["a/b"] });
  });
  it("rejects other shapes with a code", () => {
    for (const u of ["/a/b/c/d", "/providers/p/bogus/s", "/providers/%E0%A4%A"])
      expect(() => parseUri(u)).toThrow(expect.objectContaining({ code: "RELAIS_ERR_HTTP_BAD_REQUEST" }));
  });
});

describe("Authorization header", () => {
  it("parses Bearer and Basic", () => {
    expect(parseAuthorization("Bearer abc")).toEqual({ kind: "bearer", token: "abc" });
    const b = Buffer.from("alice:pa:ss").toString("base64");
    expect(parseAuthorization(`Basic ${b}`)).toEqual({ kind: "basic", user: "alice", password: "pa:ss" });
  });
  it("rejects other schemes and broken Basic with 401", () => {
    for (const h of ["Digest x", "Basic !!!", `Basic ${Buffer.from("nocolon").toString("base64")}`, "Bearer"])
      expect(() => parseAuthorization(h)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_HTTP_UNAUTHENTICATED" }),
      );
  });
  it("finds a bearer.<token> sub-protocol", () => {
    expect(tokenFromSubprotocols("relais, bearer.xyz")).toBe("xyz");
    expect(tokenFromSubprotocols("relais")).toBeNull();
  });
});
