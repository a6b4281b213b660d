/**
 * An in-process Transport: a MemoryHub plays the XMPP server, MemoryTransports are its clients.
 * For the single-process demo and fast tests; it passes the same contract suite as XmppTransport
 * (test/contract/transport.contract.ts).
 *
 * Semantics, chosen to match ejabberd with mod_offline (what production runs on):
 * - Delivery is asynchronous (never inside `send`), in send order per recipient.
 * - An account exists once a transport was created for its JID (`hub.transport(jid)`). A message
 *   to a JID without account bounces with `service-unavailable` and an empty text, from that JID.
 * - A message to an account that is not online (stopped, or taken down with `goOffline()`) is
 *   QUEUED, like offline storage, and delivered when it comes back online. Receipts and error
 *   answers to a sender that is not online are DROPPED (the server does not store bodiless
 *   messages offline): the sender resends and the receiver deduplicates.
 * - `send` while not online rejects with RELAIS_ERR_XMPP_OFFLINE (retryable), like XmppTransport.
 * - A body larger than the hub's `serverStanzaBytes` ends the sender's stream with the stream
 *   error policy-violation, as ejabberd does past max_stanza_size; the sender is online again
 *   10 ms later (messages it sent before that one were routed).
 * - Receipt after the handler resolves `accepted` (only when requested: `send` always requests
 *   one, `hub.inject` does not, like a plain XMPP client); `rejected` → bounce with the condition
 *   and the text `CODE: message`; handler throws → nothing.
 */
import { RelaisError, streamEnded } from "../core/errors.js";
import type {
  FederationStanza,
  InboundVerdict,
  OutgoingStanza,
  Transport,
  TransportEvents,
  TransportState,
} from "../core/ports.js";

/** Bare, lower-case JID, or null (a simplified RFC 7622 check, as in the XMPP adapter). */
function bare(jid: string): string | null {
  const b = jid.split("/")[0]!.toLowerCase();
  const at = b.indexOf("@");
  if (at <= 0 || at !== b.lastIndexOf("@") || at === b.length - 1 || /[\s<>"'&]/.test(b)) return null;
  return b;
}

interface Envelope {
  stanza: FederationStanza;
  wantsReceipt: boolean;
}

export interface MemoryHubOptions {
  /** Delay of each hop (ms). Default 0 (next macrotask). */
  latencyMs?: number;
  /** Inbound guard on bodies (UTF-8 bytes), like XmppTransport. Default 1 MiB. */
  maxBodyBytes?: number;
  /** The server's own limit (body bytes): a bigger message ends the sender's stream. Default none. */
  serverStanzaBytes?: number;
}

export class MemoryHub {
  private readonly accounts = new Map<string, MemoryTransport>();
  /** Offline storage per account. */
  private readonly offline = new Map<string, Envelope[]>();
  readonly latencyMs: number;
  readonly maxBodyBytes: number;
  readonly serverStanzaBytes: number;

  constructor(options: MemoryHubOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.serverStanzaBytes = options.serverStanzaBytes ?? Infinity;
  }

  /** The transport of `jid` (created, and its account registered, on first call). */
  transport(jid: string): MemoryTransport {
    const b = bare(jid);
    if (b === null) throw new RelaisError("RELAIS_ERR_XMPP_BAD_JID", `not a JID: ${jid}`);
    let t = this.accounts.get(b);
    if (!t) {
      t = new MemoryTransport(this, b);
      this.accounts.set(b, t);
    }
    return t;
  }

  /** Messages waiting in offline storage for `jid`. */
  offlineCount(jid: string): number {
    return this.offline.get(bare(jid) ?? jid)?.length ?? 0;
  }

  /**
   * A message from any JID (account or not), without receipt request or `relais` element: what a
   * plain XMPP client sends. Like ejabberd's send_message.
   */
  inject(m: { from: string; to: string; body: string; id?: string }): void {
    const from = bare(m.from);
    const to = bare(m.to);
    if (from === null || to === null) throw new RelaisError("RELAIS_ERR_XMPP_BAD_JID");
    this.route({ stanza: { id: m.id ?? crypto.randomUUID(), from, to, body: m.body }, wantsReceipt: false });
  }

  private later(f: () => void): void {
    setTimeout(f, this.latencyMs);
  }

  /** @internal */
  route(env: Envelope): void {
    this.later(() => {
      const target = this.accounts.get(env.stanza.to);
      if (!target) {
        this.answer(env.stanza.from, (t) => {
          t.bounced(env.stanza.id, env.stanza.to, "service-unavailable", "");
        });
        return;
      }
      if (target.state !== "online") {
        const q = this.offline.get(target.jid) ?? [];
        q.push(env);
        this.offline.set(target.jid, q);
        return;
      }
      target.deliver(env);
    });
  }

  /** @internal Send a receipt / error to `jid` if it is online; dropped otherwise. */
  answer(jid: string, f: (t: MemoryTransport) => void): void {
    this.later(() => {
      const t = this.accounts.get(jid);
      if (t && t.state === "online") f(t);
    });
  }

  /** @internal The account came online: flush its offline storage, in order. */
  flush(t: MemoryTransport): void {
    const q = this.offline.get(t.jid);
    if (!q || q.length === 0) return;
    this.offline.delete(t.jid);
    this.later(() => {
      for (const env of q) {
        if (t.state === "online") t.deliver(env);
        else this.route(env);
      }
    });
  }
}

export class MemoryTransport implements Transport {
  private handlers: Partial<TransportEvents> = {};
  private _state: TransportState = "offline";
  private started = false;
  private outage = false;
  /** Counts connections: a confirm() fails if the stream it waits on ended meanwhile. */
  private epoch = 0;
  private _lastStreamError: string | null = null;

  /** Use `hub.transport(jid)`. */
  constructor(
    private readonly hub: MemoryHub,
    readonly jid: string,
  ) {}

  get state(): TransportState {
    return this._state;
  }

  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): void {
    this.handlers[event] = handler;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.setState(this.outage ? "connecting" : "online");
  }

  async stop(): Promise<void> {
    this.started = false;
    this.setState("offline");
  }

  /** Simulate a lost connection: state "connecting", inbound messages go to offline storage. */
  goOffline(): void {
    this.outage = true;
    this._lastStreamError = null;
    if (this.started) this.setState("connecting");
  }

  /** End of the simulated outage: online again (if started), offline storage delivered. */
  goOnline(): void {
    this.outage = false;
    if (this.started) this.setState("online");
  }

  get lastStreamError(): string | null {
    return this._lastStreamError;
  }

  async send(stanza: OutgoingStanza): Promise<void> {
    const to = bare(stanza.to);
    if (to === null) throw new RelaisError("RELAIS_ERR_XMPP_BAD_JID", `bad recipient JID: ${stanza.to}`);
    if (this._state !== "online") throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE");
    if (Buffer.byteLength(stanza.body, "utf8") > this.hub.serverStanzaBytes) {
      // Written to the stream all the same (send resolves); the server ends the stream on it.
      this.endStream("policy-violation");
      return;
    }
    const copy: FederationStanza = { id: stanza.id, from: this.jid, to, body: stanza.body };
    if (stanza.user !== undefined) copy.user = stanza.user;
    if (stanza.consumer !== undefined) copy.consumer = stanza.consumer;
    this.hub.route({ stanza: copy, wantsReceipt: true });
  }

  async confirm(): Promise<void> {
    if (this._state !== "online")
      throw streamEnded("RELAIS_ERR_XMPP_OFFLINE", "not connected", this._lastStreamError);
    const epoch = this.epoch;
    await new Promise<void>((resolve) => {
      this.hub.answer(this.jid, () => {
        resolve();
      });
      // answered only while online: a stream that ended meanwhile resolves here, checked below
      setTimeout(resolve, this.hub.latencyMs * 2 + 1);
    });
    if (this.epoch !== epoch || this._state !== "online")
      throw streamEnded("RELAIS_ERR_XMPP_CONNECT_FAILED", "connection closed", this._lastStreamError);
  }

  /** The server ends this stream with a stream error; the client is back on the next hop. */
  private endStream(condition: string): void {
    this._lastStreamError = condition;
    this.setState("connecting");
    setTimeout(() => {
      if (this.started && !this.outage) this.setState("online");
    }, this.hub.latencyMs + 10); // a client reconnects after a pause
  }

  private setState(s: TransportState): void {
    if (this._state === s) return;
    if (this._state === "online") this.epoch++;
    this._state = s;
    this.handlers.state?.(s);
    if (s === "online") this.hub.flush(this);
  }

  /** @internal */
  deliver(env: Envelope): void {
    const { stanza } = env;
    const size = Buffer.byteLength(stanza.body, "utf8");
    if (size > this.hub.maxBodyBytes) {
      this.reject(stanza, {
        kind: "rejected",
        code: "RELAIS_ERR_XMPP_STANZA_TOO_LARGE",
        message: `body of ${size} bytes exceeds ${this.hub.maxBodyBytes}`,
        condition: "policy-violation",
      });
      return;
    }
    const handler = this.handlers.message;
    if (!handler) return;
    // a copy: the handler must not be able to change what the sender holds
    handler({ ...stanza }).then(
      (verdict) => {
        if (this._state !== "online") return; // went down before answering: the sender resends
        if (verdict.kind === "accepted") {
          if (env.wantsReceipt) {
            this.hub.answer(stanza.from, (t) => {
              t.received(stanza.id, this.jid);
            });
          }
        } else this.reject(stanza, verdict);
      },
      () => undefined, // handler threw: no answer, the sender resends
    );
  }

  private reject(stanza: FederationStanza, verdict: Extract<InboundVerdict, { kind: "rejected" }>): void {
    this.hub.answer(stanza.from, (t) => {
      t.bounced(
        stanza.id,
        this.jid,
        verdict.condition ?? "not-acceptable",
        `${verdict.code}: ${verdict.message}`,
      );
    });
  }

  /** @internal */
  received(id: string, from: string): void {
    this.handlers.receipt?.(id, from);
  }

  /** @internal */
  bounced(id: string, from: string, condition: string, text: string): void {
    this.handlers.bounce?.(id, from, condition, text);
  }
}
