/**
 * Server-Sent Events for `GET …/resources/{r}/SUBSCRIBE` with `Accept: text/event-stream`
 * (CONTRACTS.md §3). One stream per subscription; the subscription ends when the client goes away
 * or the server shuts down. A comment line every 15 s keeps proxies from timing the stream out.
 */
import type { ServerResponse } from "node:http";
import { RelaisError } from "../../core/errors.js";
import type { Notification } from "./ports.js";

export interface SseStream {
  send(n: Notification): void;
  /** Ends the stream (idempotent); runs the onClose callbacks. */
  close(): void;
  onClose(f: () => void): void;
}

export class SseStreams {
  private readonly open = new Set<SseStream>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.open.size;
  }

  /** Throws RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT when the gateway already serves `max` streams. */
  reserve(): void {
    if (this.open.size >= this.max)
      throw new RelaisError("RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT", "Too many open event streams", {
        limit: this.max,
      });
  }

  /** Take over the raw response (the caller has hijacked the reply). */
  attach(res: ServerResponse, heartbeatMs = 15_000): SseStream {
    const closers: (() => void)[] = [];
    let closed = false;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write(": relais event stream\n\n");
    const heartbeat = setInterval(() => {
      res.write(": keep-alive\n\n");
    }, heartbeatMs);
    heartbeat.unref();
    const stream: SseStream = {
      send: (n) => {
        if (closed) return;
        const data = JSON.stringify({ type: "SUBSCRIPTION_NOTIFICATION", ...n });
        res.write(`event: notification\nid: ${n.timestamp}\ndata: ${data}\n\n`);
      },
      close: () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        this.open.delete(stream);
        if (!res.writableEnded) res.end();
        for (const f of closers) f();
      },
      onClose: (f) => {
        closers.push(f);
      },
    };
    this.open.add(stream);
    res.on("close", () => {
      stream.close();
    });
    return stream;
  }

  closeAll(): void {
    for (const s of [...this.open]) s.close();
  }
}
