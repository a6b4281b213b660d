/**
 * The Transport port over XMPP with @xmpp/client 0.14 (CONTRACTS.md §4, RELIABILITY.md).
 *
 * Delivery rests on XEP-0184 receipts sent by the receiving gateway after its handler resolved,
 * never on the server or on XEP-0198 (its queue is in memory and is dropped when a resume fails).
 * What the library does not do and this adapter adds (shared/reference/xmpp-server.md):
 * - Nagle off after connect (each round trip otherwise costs ~44 ms);
 * - SASL PLAIN on loopback, SCRAM elsewhere, and no authentication in plaintext outside
 *   loopback unless explicitly allowed (auth-policy.ts, RELIABILITY S9);
 * - initial presence, or messages to the bare JID go to offline storage;
 * - receipts: request on send, answer after the handler;
 * - a fixed resource per gateway (a crashed session's messages go to the next login with the
 *   same resource);
 * - dead-link detection with XEP-0199 pings when the link is idle (R2: ≤ 15 s by default), and
 *   `<r/>` requests so the library's XEP-0198 queue does not grow under steady traffic;
 * - reconnection with exponential backoff and jitter: each attempt is a fresh client, so no
 *   state of a dead stream leaks into the next one.
 */
import { randomUUID } from "node:crypto";
import {
  client as xmppClient,
  xml,
  type Authenticate,
  type Client,
  type Element,
  type Mechanism,
} from "@xmpp/client";
import { RelaisError, isRelaisError, streamEnded } from "../../core/errors.js";
import {
  silentLogger,
  type InboundVerdict,
  type Logger,
  type OutgoingStanza,
  type Transport,
  type TransportEvents,
  type TransportState,
} from "../../core/ports.js";
import { chooseMechanism } from "./auth-policy.js";
import { bareJid, buildError, buildMessage, buildReceipt, parseInbound, type Inbound } from "./stanza.js";
import { useStreamParser } from "./stream-parser.js";

export interface XmppBackoff {
  /** First retry delay (ms). Default 500. */
  initialMs?: number;
  /** Ceiling (ms). Default 30 000. */
  maxMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
}

export interface XmppTransportOptions {
  /** `xmpp://host:port` (STARTTLS when offered) or `xmpps://host:port` (direct TLS). */
  service: string;
  /** The gateway's own bare JID, e.g. `alpha@fed.local`. */
  jid: string;
  password: string;
  /** Fixed resource of this gateway. Default `relais`. */
  resource?: string;
  /** Authenticate without TLS to a non-loopback server (trusted networks only). Default false. */
  allowInsecure?: boolean;
  /** Inbound guard: larger bodies are refused with policy-violation. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Flow control: when this many handler calls are pending, stop reading the socket (TCP pushes
   * back on the server) until half of them settled. Default 256.
   */
  maxInFlight?: number;
  /** Ping when nothing arrived for this long (ms). Default 3 000 (worst-case detection ≈ 2 × interval + timeout = 10 s, R2). */
  pingIntervalMs?: number;
  /** A ping unanswered for this long (ms) declares the link dead. Default 4 000. */
  pingTimeoutMs?: number;
  /** One whole connection attempt (TCP, TLS, SASL, bind) (ms). Default 10 000. */
  connectTimeoutMs?: number;
  backoff?: XmppBackoff;
  logger?: Logger;
  /** Injected randomness for the backoff jitter (tests). Default Math.random. */
  random?: () => number;
}

type Handlers = Partial<TransportEvents>;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new RelaisError("RELAIS_ERR_XMPP_CONNECT_FAILED", `${what} timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => {
    clearTimeout(timer);
  });
}

/** The net.Socket under @xmpp's socket (plain TCP or its direct-TLS wrapper). */
function rawSocket(c: Client): import("node:net").Socket | null {
  const s = c.socket;
  if (!s) return null;
  if (typeof s.setNoDelay === "function") return s as unknown as import("node:net").Socket;
  return s.socket ?? null;
}

export class XmppTransport implements Transport {
  readonly jid: string;
  private readonly local: string;
  private readonly domain: string;
  private readonly o: Required<Omit<XmppTransportOptions, "backoff" | "logger" | "random">> & {
    backoff: Required<XmppBackoff>;
  };
  private readonly log: Logger;
  private readonly random: () => number;
  private handlers: Handlers = {};
  private _state: TransportState = "offline";
  private started = false;
  private xmpp: Client | null = null;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private livenessTimer: NodeJS.Timeout | null = null;
  private lastInbound = 0;
  private inFlight = 0;
  private readPaused = false;
  private pingInFlight = false;
  private connecting: Promise<void> | null = null;
  /** Set when an attempt fails for a reason retrying cannot fix (credentials, TLS policy). */
  private fatal: RelaisError | null = null;
  /** The stream error the server sent on the current connection, if any. */
  private streamError: string | null = null;
  /** Settled when the current connection is lost (confirm() races it). */
  private connectionLost: Promise<never> | null = null;
  private loseConnection: ((e: RelaisError) => void) | null = null;
  private _lastStreamError: string | null = null;

  constructor(options: XmppTransportOptions) {
    const bare = bareJid(options.jid);
    if (bare === null || bare !== options.jid.toLowerCase()) {
      throw new RelaisError("RELAIS_ERR_XMPP_BAD_JID", `not a bare JID: ${options.jid}`);
    }
    this.jid = bare;
    const at = bare.indexOf("@");
    this.local = bare.slice(0, at);
    this.domain = bare.slice(at + 1);
    this.o = {
      service: options.service,
      jid: bare,
      password: options.password,
      resource: options.resource ?? "relais",
      allowInsecure: options.allowInsecure ?? false,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      maxInFlight: options.maxInFlight ?? 256,
      pingIntervalMs: options.pingIntervalMs ?? 3_000,
      pingTimeoutMs: options.pingTimeoutMs ?? 4_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      backoff: {
        initialMs: options.backoff?.initialMs ?? 500,
        maxMs: options.backoff?.maxMs ?? 30_000,
        factor: options.backoff?.factor ?? 2,
      },
    };
    this.log = (options.logger ?? silentLogger).child({ component: "xmpp", jid: bare });
    this.random = options.random ?? Math.random;
  }

  get state(): TransportState {
    return this._state;
  }

  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): void {
    this.handlers[event] = handler;
  }

  /**
   * Connects once. Resolves when online, or when the first attempt failed for a retryable reason
   * (the transport keeps trying in the background: the Outbox keeps filling meanwhile). Rejects
   * when retrying cannot help (bad credentials, plaintext refused): the transport then stays off.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.fatal = null;
    await this.connectOnce();
    const err = this.fatalError();
    if (err) {
      await this.stop();
      throw err;
    }
  }

  private fatalError(): RelaisError | null {
    return this.fatal;
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const x = this.xmpp;
    this.endConnection("stopped");
    this.stopLiveness();
    if (x) await this.closeClient(x, true);
    this.setState("offline");
  }

  /** Resolves when online; rejects after `timeoutMs` (a helper for callers that must wait). */
  async whenOnline(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this._state !== "online") {
      if (this.fatal) throw this.fatal;
      if (Date.now() > end)
        throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE", `not online after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async send(stanza: OutgoingStanza): Promise<void> {
    const to = bareJid(stanza.to);
    if (to === null) throw new RelaisError("RELAIS_ERR_XMPP_BAD_JID", `bad recipient JID: ${stanza.to}`);
    const x = this.xmpp;
    if (!x || this._state !== "online") throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE");
    try {
      await x.send(buildMessage({ ...stanza, to }));
    } catch (e) {
      // The stream is going (the server ended it, the socket broke): stop sending on it now, or
      // every send until the close event burns a claim.
      if (this.xmpp === x) this.lost(x, "write failed");
      throw new RelaisError(
        "RELAIS_ERR_XMPP_OFFLINE",
        "write to the XMPP stream failed",
        { to },
        { cause: e },
      );
    }
  }

  get lastStreamError(): string | null {
    return this._lastStreamError;
  }

  async confirm(): Promise<void> {
    const x = this.xmpp;
    const lost = this.connectionLost;
    // Offline already: the stream our last send went on ended; say how.
    if (!x || this._state !== "online" || lost === null)
      throw streamEnded("RELAIS_ERR_XMPP_OFFLINE", "not connected", this._lastStreamError);
    await Promise.race([x.iqCaller.request(this.pingStanza(), this.o.pingTimeoutMs), lost]);
  }

  // ---- connection ------------------------------------------------------------------------------

  private setState(s: TransportState): void {
    if (this._state === s) return;
    this._state = s;
    this.log.info({ state: s }, `xmpp.${s}`);
    try {
      this.handlers.state?.(s);
    } catch (e) {
      this.log.error({ err: e }, "state handler threw");
    }
  }

  private connectOnce(): Promise<void> {
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    if (!this.started) return;
    this.setState("connecting");
    const x = xmppClient({
      service: this.o.service,
      domain: this.domain,
      resource: this.o.resource,
      username: this.local,
      password: this.o.password,
      timeout: Math.min(this.o.connectTimeoutMs, 5_000),
      credentials: (authenticate, mechanisms, _fast, entity) =>
        this.authenticate(authenticate, mechanisms, entity),
    });
    x.reconnect.stop(); // our own backoff, one fresh client per attempt
    useStreamParser(x);
    x.on("error", (err: Error & { condition?: string; text?: string }) => {
      if (err.name === "StreamError" && this.xmpp === x) {
        this.streamError = err.condition ?? "undefined-condition";
        this.log.warn({ condition: err.condition, text: err.text }, "xmpp.stream_error");
      } else this.log.debug({ err: err.message }, "xmpp error");
    });
    x.on("connect", () => {
      rawSocket(x)?.setNoDelay(true);
    });
    x.on("element", () => {
      this.lastInbound = Date.now();
    });
    x.on("stanza", (el: Element) => {
      if (this.xmpp === x) this.onStanza(x, el);
    });
    const onLost = () => {
      if (this.xmpp === x) this.lost(x, "connection closed");
    };
    x.on("disconnect", onLost);
    x.on("offline", onLost);

    this.xmpp = x;
    this.streamError = null;
    this.connectionLost = new Promise<never>((_, reject) => {
      this.loseConnection = reject;
    });
    this.connectionLost.catch(() => undefined); // nobody may be waiting
    try {
      await withTimeout(x.start(), this.o.connectTimeoutMs, "XMPP connect");
      rawSocket(x)?.setNoDelay(true); // again: STARTTLS replaced the socket
      await x.send(xml("presence")); // RFC 6121 §4.2: without it, bare-JID messages go offline
      // The server handles a stream's stanzas in order: once this ping is answered, our presence
      // is in effect. Without the wait, a peer's message can race it into offline storage
      // (observed under load: the message then waits for the next login).
      await x.iqCaller.request(this.pingStanza(), this.o.connectTimeoutMs);
      if (this.xmpp !== x || !this.started) {
        await this.closeClient(x, true);
        return;
      }
      this.attempt = 0;
      this.readPaused = false;
      this.lastInbound = Date.now();
      this.startLiveness(x);
      this.setState("online");
      this.log.info({ service: this.o.service }, "xmpp.connected");
    } catch (e) {
      const err = this.classify(e);
      this.log.warn({ code: err.code, err: err.message, attempt: this.attempt }, "xmpp.connect_failed");
      if (this.xmpp === x) this.endConnection(err.message);
      await this.closeClient(x, false);
      if (!err.retryable && this.attempt === 0 && !this.fatal) {
        // configuration problems surface at start; later they are retried (the password may be fixed)
        this.fatal = err;
        return;
      }
      this.scheduleReconnect();
    }
  }

  private async authenticate(
    authenticate: Authenticate,
    mechanisms: Mechanism[],
    entity: Client,
  ): Promise<void> {
    const sock = rawSocket(entity);
    const decision = chooseMechanism({
      offered: mechanisms,
      secure: entity.isSecure() || (sock !== null && "encrypted" in sock),
      remoteAddress: sock?.remoteAddress,
      allowInsecure: this.o.allowInsecure,
    });
    if ("refuse" in decision) throw new RelaisError(decision.refuse, decision.reason);
    await authenticate({ username: this.local, password: this.o.password }, decision.mechanism);
  }

  private classify(e: unknown): RelaisError {
    if (isRelaisError(e)) return e;
    const err = e as { name?: string; condition?: string; message?: string };
    if (err.name === "SASLError") {
      return new RelaisError(
        "RELAIS_ERR_XMPP_AUTH_FAILED",
        `SASL: ${err.condition ?? err.message ?? "failure"}`,
        {},
        { cause: e },
      );
    }
    return new RelaisError("RELAIS_ERR_XMPP_CONNECT_FAILED", err.message ?? String(e), {}, { cause: e });
  }

  private scheduleReconnect(): void {
    if (!this.started || this.reconnectTimer) return;
    const b = this.o.backoff;
    const base = Math.min(b.maxMs, b.initialMs * b.factor ** this.attempt);
    const delay = Math.round(base / 2 + (base / 2) * this.random()); // "equal jitter"
    this.attempt += 1;
    this.setState("connecting");
    this.log.info({ delayMs: delay, attempt: this.attempt }, "xmpp.reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connectOnce();
    }, delay);
  }

  /** Forget the current client; a confirm() waiting on it fails with why it ended. */
  private endConnection(why: string): void {
    this.xmpp = null;
    this._lastStreamError = this.streamError;
    this.loseConnection?.(streamEnded("RELAIS_ERR_XMPP_CONNECT_FAILED", why, this.streamError));
    this.connectionLost = null;
    this.loseConnection = null;
  }

  /** The link is gone (closed, or declared dead): drop this client and try again. */
  private lost(x: Client, why: string): void {
    if (this.xmpp !== x) return;
    this.endConnection(why);
    this.stopLiveness();
    this.log.warn({ why }, "xmpp.disconnected");
    void this.closeClient(x, false);
    if (this.started) this.scheduleReconnect();
    else this.setState("offline");
  }

  private async closeClient(x: Client, graceful: boolean): Promise<void> {
    if (graceful && x.status === "online") {
      try {
        await withTimeout(x.stop(), 1_000, "XMPP close");
      } catch {
        /* destroyed below */
      }
    }
    x.removeAllListeners();
    x.on("error", () => undefined); // late socket errors of an abandoned client
    const s = rawSocket(x);
    s?.destroy();
  }

  // ---- liveness (RELIABILITY R2, R3) -----------------------------------------------------------

  private startLiveness(x: Client): void {
    this.stopLiveness();
    this.livenessTimer = setInterval(() => {
      this.livenessTick(x);
    }, this.o.pingIntervalMs);
  }

  private stopLiveness(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
    this.pingInFlight = false;
  }

  private livenessTick(x: Client): void {
    if (this.xmpp !== x) return;
    const sm = x.streamManagement;
    // the library requests acks only when traffic pauses: keep its resend queue short ourselves
    if (sm.enabled && sm.outbound_q.length > 0) x.write('<r xmlns="urn:xmpp:sm:3"/>').catch(() => undefined);
    // while we stop reading on purpose (flow control), silence proves nothing
    if (this.readPaused) this.lastInbound = Date.now();
    if (this.pingInFlight || Date.now() - this.lastInbound < this.o.pingIntervalMs) return;
    this.pingInFlight = true;
    const ping = this.pingStanza();
    x.iqCaller
      .request(ping, this.o.pingTimeoutMs)
      .then(
        () => undefined,
        (e: unknown) => {
          // an error answer (StanzaError) still proves the server is alive; silence or a failed
          // write kills the link
          if ((e as { name?: string }).name === "StanzaError") return;
          this.log.warn({ timeoutMs: this.o.pingTimeoutMs, err: String(e) }, "xmpp.ping_timeout");
          this.lost(x, "ping timeout");
        },
      )
      .finally(() => {
        if (this.xmpp === x) this.pingInFlight = false;
      });
  }

  /** XEP-0199 ping to our server. */
  private pingStanza(): Element {
    return xml(
      "iq",
      { type: "get", to: this.domain, id: randomUUID() },
      xml("ping", { xmlns: "urn:xmpp:ping" }),
    );
  }

  // ---- inbound ---------------------------------------------------------------------------------

  private onStanza(x: Client, el: Element): void {
    let inbound: Inbound;
    try {
      inbound = parseInbound(el, { self: this.jid, maxBodyBytes: this.o.maxBodyBytes, newId: randomUUID });
    } catch (e) {
      this.log.warn({ err: e }, "xmpp.unparseable_stanza");
      return;
    }
    switch (inbound.kind) {
      case "ignore":
        return;
      case "receipt":
        this.emitSafely(() => this.handlers.receipt?.(inbound.id, inbound.from));
        return;
      case "bounce":
        this.emitSafely(() =>
          this.handlers.bounce?.(inbound.id, inbound.from, inbound.condition, inbound.text),
        );
        return;
      case "invalid":
        this.log.warn({ from: inbound.replyTo, code: inbound.verdict.code }, "xmpp.invalid_message");
        this.reply(x, buildError(inbound.replyTo, inbound.replyId, inbound.verdict));
        return;
      case "message":
        void this.deliver(x, inbound);
        return;
    }
  }

  private async deliver(x: Client, m: Extract<Inbound, { kind: "message" }>): Promise<void> {
    const handler = this.handlers.message;
    if (!handler) {
      this.log.warn({ id: m.stanza.id }, "xmpp.no_handler: message left unanswered");
      return;
    }
    let verdict: InboundVerdict;
    this.inFlight += 1;
    if (this.inFlight >= this.o.maxInFlight) this.setReading(false);
    try {
      verdict = await handler(m.stanza);
    } catch (e) {
      // no answer at all: the sender keeps the message and resends it with the same id
      this.log.warn({ id: m.stanza.id, from: m.stanza.from, err: e }, "xmpp.handler_failed");
      return;
    } finally {
      this.inFlight -= 1;
      if (this.readPaused && this.inFlight <= this.o.maxInFlight / 2) this.setReading(true);
    }
    // answer on the stream the message came in on, if it is still ours (offline storage is
    // flushed before we call ourselves online); otherwise the sender resends, dedup absorbs it
    if (this.xmpp !== x) return;
    if (verdict.kind === "accepted") {
      if (m.wantsReceipt) this.reply(x, buildReceipt(m.replyTo, m.replyId, randomUUID()));
    } else {
      this.reply(x, buildError(m.replyTo, m.replyId, verdict));
    }
  }

  private setReading(on: boolean): void {
    const sock = this.xmpp ? rawSocket(this.xmpp) : null;
    this.readPaused = !on;
    if (on) sock?.resume();
    else {
      sock?.pause();
      this.log.debug({ inFlight: this.inFlight }, "xmpp.backpressure");
    }
  }

  private reply(x: Client, el: Element): void {
    x.send(el).catch((e: unknown) => {
      this.log.debug({ err: e }, "xmpp.reply_failed");
    });
  }

  private emitSafely(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.log.error({ err: e }, "transport event handler threw");
    }
  }
}
