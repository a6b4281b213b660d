import { xml } from "@xmpp/client";
import { describe, expect, it } from "vitest";
import {
  NS_RECEIPTS,
  NS_RELAIS,
  NS_SID,
  NS_STANZAS,
  bareJid,
  buildError,
  buildMessage,
  buildReceipt,
  parseInbound,
  type Inbound,
} from "./stanza.js";

const opts = { self: "beta@fed.local", maxBodyBytes: 1000, newId: () => "generated" };

function federationMessage(attrs: Record<string, string> = {}, relais: Record<string, string> | null = {}) {
  return xml(
    "message",
    { from: "Alpha@Fed.Local/relais", to: "beta@fed.local/relais", type: "normal", id: "m1", ...attrs },
    xml("body", {}, "[1]"),
    xml("request", { xmlns: NS_RECEIPTS }),
    xml("origin-id", { xmlns: NS_SID, id: "m1" }),
    relais ? xml("relais", { xmlns: NS_RELAIS, ...relais }) : null,
  );
}

function expectKind<K extends Inbound["kind"]>(r: Inbound, kind: K): Extract<Inbound, { kind: K }> {
  expect(r.kind).toBe(kind);
  return r as Extract<Inbound, { kind: K }>;
}

describe("bareJid", () => {
  it("strips the resource and lower-cases", () => {
    expect(bareJid("Alpha@Fed.Local/Res/x")).toBe("alpha@fed.local");
    expect(bareJid("a@b")).toBe("a@b");
  });
  it.each(["", "fed.local", "@fed.local", "a@", "a@b@c", "a b@c", "a@b..c", "a@.b", "a@b c", "a<@b"])(
    "refuses %j",
    (j) => {
      expect(bareJid(j)).toBeNull();
    },
  );
});

describe("buildMessage (CONTRACTS §4)", () => {
  it("has body, receipt request, origin-id and the relais element", () => {
    const el = buildMessage({ id: "x1", to: "beta@fed.local", body: "[<&>]", user: "u@o", consumer: "7" });
    expect(el.attrs).toMatchObject({ to: "beta@fed.local", type: "normal", id: "x1" });
    expect(el.getChildText("body")).toBe("[<&>]");
    expect(el.getChild("request", NS_RECEIPTS)).toBeDefined();
    expect(el.getChild("origin-id", NS_SID)?.attrs.id).toBe("x1");
    expect(el.getChild("relais", NS_RELAIS)?.attrs).toMatchObject({ user: "u@o", consumer: "7" });
    expect(el.toString()).toContain("[&lt;&amp;&gt;]");
  });
  it("omits absent attributes", () => {
    const r = buildMessage({ id: "x1", to: "b@c", body: "" }).getChild("relais", NS_RELAIS)!;
    expect("user" in r.attrs).toBe(false);
    expect("consumer" in r.attrs).toBe(false);
  });
});

describe("parseInbound", () => {
  it("maps a federation message, bare from, user and consumer", () => {
    const r = expectKind(
      parseInbound(federationMessage({}, { user: "u@o", consumer: "42" }), opts),
      "message",
    );
    expect(r.stanza).toEqual({
      id: "m1",
      from: "alpha@fed.local",
      to: "beta@fed.local",
      body: "[1]",
      user: "u@o",
      consumer: "42",
    });
    expect(r.replyTo).toBe("Alpha@Fed.Local/relais");
    expect(r.replyId).toBe("m1");
    expect(r.wantsReceipt).toBe(true);
  });
  it("prefers origin-id for the stanza id, answers with the message id", () => {
    const el = federationMessage({ id: "server-rewritten" });
    const r = expectKind(parseInbound(el, opts), "message");
    expect(r.stanza.id).toBe("m1");
    expect(r.replyId).toBe("server-rewritten");
  });
  it("accepts a plain chat message without relais element or receipt request", () => {
    const el = xml(
      "message",
      { from: "c@fed.local/phone", type: "chat", id: "p1" },
      xml("body", {}, "hello"),
    );
    const r = expectKind(parseInbound(el, opts), "message");
    expect(r.stanza).toEqual({ id: "p1", from: "c@fed.local", to: "beta@fed.local", body: "hello" });
    expect(r.wantsReceipt).toBe(false);
  });
  it("generates an id when the message carries none", () => {
    const el = xml("message", { from: "c@fed.local" }, xml("body", {}, "x"));
    expect(expectKind(parseInbound(el, opts), "message").stanza.id).toBe("generated");
  });
  it("rejects a federation message without body with bad-request", () => {
    const el = xml("message", { from: "a@fed.local/r", id: "n1" }, xml("request", { xmlns: NS_RECEIPTS }));
    const r = expectKind(parseInbound(el, opts), "invalid");
    expect(r.verdict.code).toBe("RELAIS_ERR_XMPP_BAD_STANZA");
    expect(r.verdict.condition).toBe("bad-request");
    expect(r.replyId).toBe("n1");
  });
  it("ignores a body-less chat state", () => {
    const el = xml(
      "message",
      { from: "a@fed.local/r", type: "chat" },
      xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" }),
    );
    expect(parseInbound(el, opts).kind).toBe("ignore");
  });
  it("refuses a body over the size guard with policy-violation", () => {
    const el = xml("message", { from: "a@fed.local/r", id: "big" }, xml("body", {}, "é".repeat(501)));
    const r = expectKind(parseInbound(el, opts), "invalid");
    expect(r.verdict.code).toBe("RELAIS_ERR_XMPP_STANZA_TOO_LARGE");
    expect(r.verdict.condition).toBe("policy-violation");
    const ok = xml("message", { from: "a@fed.local/r", id: "ok" }, xml("body", {}, "é".repeat(500)));
    expect(parseInbound(ok, opts).kind).toBe("message");
  });
  it("maps a receipt to the confirmed id", () => {
    const el = xml(
      "message",
      { from: "beta@fed.local/relais", id: "r9" },
      xml("received", { xmlns: NS_RECEIPTS, id: "m1" }),
    );
    expect(parseInbound(el, opts)).toEqual({ kind: "receipt", id: "m1", from: "beta@fed.local" });
  });
  it("maps an error message to a bounce with condition and text", () => {
    const el = xml(
      "message",
      { from: "beta@fed.local/relais", id: "m1", type: "error" },
      xml(
        "error",
        { type: "auth" },
        xml("forbidden", { xmlns: NS_STANZAS }),
        xml("text", { xmlns: NS_STANZAS }, "RELAIS_ERR_FED_UNKNOWN_SENDER: x"),
      ),
    );
    expect(parseInbound(el, opts)).toEqual({
      kind: "bounce",
      id: "m1",
      from: "beta@fed.local",
      condition: "forbidden",
      text: "RELAIS_ERR_FED_UNKNOWN_SENDER: x",
    });
  });
  it.each([
    ["no sender", xml("message", {}, xml("body", {}, "x"))],
    [
      "groupchat",
      xml("message", { from: "room@conf.fed.local/nick", type: "groupchat" }, xml("body", {}, "x")),
    ],
    ["headline", xml("message", { from: "a@fed.local", type: "headline" }, xml("body", {}, "x"))],
    ["presence", xml("presence", { from: "a@fed.local/r" })],
  ])("ignores %s", (_n, el) => {
    expect(parseInbound(el, opts).kind).toBe("ignore");
  });
});

describe("answers", () => {
  it("receipt names the confirmed id (XEP-0184 §4)", () => {
    const el = buildReceipt("alpha@fed.local/relais", "m1", "r1");
    expect(el.attrs).toMatchObject({ to: "alpha@fed.local/relais", id: "r1" });
    expect(el.getChild("received", NS_RECEIPTS)?.attrs.id).toBe("m1");
  });
  it("error carries type, condition and the code in the text (RFC 6120 §8.3)", () => {
    const el = buildError("alpha@fed.local/relais", "m1", {
      kind: "rejected",
      code: "RELAIS_ERR_FED_FORBIDDEN_RECORD",
      message: "no SET on p/s/r",
      condition: "forbidden",
    });
    expect(el.attrs).toMatchObject({ type: "error", id: "m1", to: "alpha@fed.local/relais" });
    const err = el.getChild("error")!;
    expect(err.attrs.type).toBe("auth");
    expect(err.getChild("forbidden", NS_STANZAS)).toBeDefined();
    expect(err.getChildText("text", NS_STANZAS)).toBe("RELAIS_ERR_FED_FORBIDDEN_RECORD: no SET on p/s/r");
    // and it parses back into the same bounce
    const back = parseInbound(
      xml("message", { ...el.attrs, from: "beta@fed.local/relais" }, ...el.children),
      opts,
    );
    expect(back).toMatchObject({ kind: "bounce", condition: "forbidden", id: "m1" });
  });
  it("defaults the condition to not-acceptable (modify)", () => {
    const err = buildError("a@b", "i", {
      kind: "rejected",
      code: "RELAIS_ERR_FED_BAD_PACK",
      message: "x",
    }).getChild("error")!;
    expect(err.attrs.type).toBe("modify");
    expect(err.getChild("not-acceptable", NS_STANZAS)).toBeDefined();
  });
});
