/**
 * Stanza <-> FederationStanza, pure: no socket, no clock. CONTRACTS.md §4 is the wire format:
 *
 *   <message to type="normal" id><body>PACK</body><request xmlns="urn:xmpp:receipts"/>
 *     <origin-id xmlns="urn:xmpp:sid:0" id/><relais xmlns="urn:relais:federation:1" user consumer/>
 *   </message>
 *
 * Receipts are XEP-0184, stable ids XEP-0359, errors RFC 6120 §8.3.
 */
import { xml, type Element } from "@xmpp/client";
import type { ErrorCode } from "../../core/errors.js";
import type {
  FederationStanza,
  InboundVerdict,
  OutgoingStanza,
  StanzaErrorCondition,
} from "../../core/ports.js";

export const NS_RECEIPTS = "urn:xmpp:receipts";
export const NS_SID = "urn:xmpp:sid:0";
export const NS_RELAIS = "urn:relais:federation:1";
export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/**
 * The bare JID (`local@domain`, lower case) of a JID with or without resource; null when it is not
 * one (RFC 7622, simplified: no stringprep, domain parts are checked for obvious garbage only).
 */
export function bareJid(jid: string): string | null {
  const slash = jid.indexOf("/");
  const bare = (slash >= 0 ? jid.slice(0, slash) : jid).toLowerCase();
  const at = bare.indexOf("@");
  if (at <= 0 || at !== bare.lastIndexOf("@")) return null;
  const local = bare.slice(0, at);
  const domain = bare.slice(at + 1);
  if (local.length > 1023 || /[\s"&'/:<>]/.test(local)) return null;
  if (domain.length === 0 || domain.length > 1023 || !/^[a-z0-9.\-[\]:]+$/.test(domain)) return null;
  if (domain.startsWith(".") || domain.endsWith(".") || domain.includes("..")) return null;
  return bare;
}

/** The outgoing federation message (CONTRACTS.md §4). `to` must be a bare JID. */
export function buildMessage(s: OutgoingStanza): Element {
  const relaisAttrs: Record<string, string> = {};
  if (s.user !== undefined) relaisAttrs.user = s.user;
  if (s.consumer !== undefined) relaisAttrs.consumer = s.consumer;
  return xml(
    "message",
    { to: s.to, type: "normal", id: s.id },
    xml("body", {}, s.body),
    xml("request", { xmlns: NS_RECEIPTS }),
    xml("origin-id", { xmlns: NS_SID, id: s.id }),
    xml("relais", { xmlns: NS_RELAIS, ...relaisAttrs }),
  );
}

/** XEP-0184 §4: the receipt names the id of the message it confirms. */
export function buildReceipt(to: string, id: string, receiptId: string): Element {
  return xml("message", { to, id: receiptId }, xml("received", { xmlns: NS_RECEIPTS, id }));
}

const ERROR_TYPE: Record<StanzaErrorCondition, "modify" | "cancel" | "auth" | "wait"> = {
  "bad-request": "modify",
  "not-acceptable": "modify",
  "policy-violation": "modify",
  forbidden: "auth",
  "not-authorized": "auth",
  "item-not-found": "cancel",
  "internal-server-error": "cancel",
  "service-unavailable": "cancel",
};

/** The text of an error stanza: the Relais code first, then the message (docs/errors.md). */
export function errorText(code: ErrorCode, message: string): string {
  return `${code}: ${message}`;
}

/** RFC 6120 §8.3: an error answer to a message, same id, condition + text carrying the code. */
export function buildError(
  to: string,
  id: string,
  verdict: Extract<InboundVerdict, { kind: "rejected" }>,
): Element {
  const condition = verdict.condition ?? "not-acceptable";
  return xml(
    "message",
    { to, id, type: "error" },
    xml(
      "error",
      { type: ERROR_TYPE[condition] },
      xml(condition, { xmlns: NS_STANZAS }),
      xml("text", { xmlns: NS_STANZAS }, errorText(verdict.code, verdict.message)),
    ),
  );
}

/** What an incoming stanza means to the transport. */
export type Inbound =
  | {
      kind: "message";
      stanza: FederationStanza;
      /** The full JID to answer (receipt or error). */
      replyTo: string;
      /** The message id attribute, echoed by the receipt or error (XEP-0184 §4). */
      replyId: string;
      wantsReceipt: boolean;
    }
  | { kind: "receipt"; id: string; from: string }
  | { kind: "bounce"; id: string; from: string; condition: string; text: string }
  /** Not acceptable as a federation message: answer with an error stanza. */
  | {
      kind: "invalid";
      replyTo: string;
      replyId: string;
      verdict: Extract<InboundVerdict, { kind: "rejected" }>;
    }
  /** Nothing to do (presence, chat states, group chat, stanzas without a sender). */
  | { kind: "ignore"; reason: string };

export interface ParseOptions {
  /** Our own bare JID: `to` of a delivered message. */
  self: string;
  /** Inbound size guard on the body, in UTF-8 bytes. */
  maxBodyBytes: number;
  /** Id for a message that carries none (some clients, ejabberd's send_message). */
  newId: () => string;
}

export function parseInbound(el: Element, opts: ParseOptions): Inbound {
  if (el.name !== "message") return { kind: "ignore", reason: `not a message: ${el.name}` };
  const fullFrom = el.attrs.from ?? "";
  const from = bareJid(fullFrom);
  if (from === null) return { kind: "ignore", reason: "no valid sender" };
  const type = el.attrs.type ?? "normal";
  const msgId = el.attrs.id ?? "";

  if (type === "error") {
    const err = el.getChild("error");
    const cond = err?.getChildElements().find((c) => c.getNS() === NS_STANZAS && c.name !== "text");
    return {
      kind: "bounce",
      id: msgId,
      from,
      condition: cond?.name ?? "undefined-condition",
      text: err?.getChildText("text", NS_STANZAS) ?? "",
    };
  }

  const received = el.getChild("received", NS_RECEIPTS);
  if (received) {
    const id = received.attrs.id ?? msgId;
    if (id === "") return { kind: "ignore", reason: "receipt without id" };
    return { kind: "receipt", id, from };
  }

  if (type !== "normal" && type !== "chat") return { kind: "ignore", reason: `message type ${type}` };

  const relais = el.getChild("relais", NS_RELAIS);
  const wantsReceipt = el.getChild("request", NS_RECEIPTS) !== undefined;
  const originId = el.getChild("origin-id", NS_SID)?.attrs.id;
  const replyId = msgId !== "" ? msgId : (originId ?? "");
  const bodyEl = el.getChild("body");

  if (bodyEl === undefined) {
    // chat states, receipts requests on empty messages: only a federation message is an error
    if (!relais && !wantsReceipt) return { kind: "ignore", reason: "no body" };
    return {
      kind: "invalid",
      replyTo: fullFrom,
      replyId,
      verdict: {
        kind: "rejected",
        code: "RELAIS_ERR_XMPP_BAD_STANZA",
        message: "message without body",
        condition: "bad-request",
      },
    };
  }
  const body = bodyEl.text();
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > opts.maxBodyBytes) {
    return {
      kind: "invalid",
      replyTo: fullFrom,
      replyId,
      verdict: {
        kind: "rejected",
        code: "RELAIS_ERR_XMPP_STANZA_TOO_LARGE",
        message: `body of ${bytes} bytes exceeds ${opts.maxBodyBytes}`,
        condition: "policy-violation",
      },
    };
  }

  const id = originId !== undefined && originId !== "" ? originId : replyId !== "" ? replyId : opts.newId();
  const stanza: FederationStanza = { id, from, to: bareJid(el.attrs.to ?? "") ?? opts.self, body };
  const user = relais?.attrs.user;
  const consumer = relais?.attrs.consumer;
  if (user !== undefined) stanza.user = user;
  if (consumer !== undefined) stanza.consumer = consumer;
  return { kind: "message", stanza, replyTo: fullFrom, replyId: replyId !== "" ? replyId : id, wantsReceipt };
}
