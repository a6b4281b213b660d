/**
 * A TCP proxy for fault tests (RELIABILITY R2): forwards, black-holes (accepts and keeps
 * connections but forwards nothing, like a dead route), adds latency, or cuts every connection.
 * Listens on one local address (default 127.0.0.1); the target is the harness server.
 */
import net from "node:net";

export class TcpProxy {
  private readonly conns = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private holes = false;
  latencyMs = 0;

  private constructor(
    private readonly server: net.Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }, listenHost = "127.0.0.1"): Promise<TcpProxy> {
    let self: TcpProxy | null = null;
    const server = net.createServer((client) => {
      self?.accept(client, target);
    });
    await new Promise<void>((res, rej) => {
      server.once("error", rej);
      server.listen(0, listenHost, () => {
        res();
      });
    });
    const addr = server.address() as net.AddressInfo;
    self = new TcpProxy(server, listenHost, addr.port);
    return self;
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    const upstream = net.connect(target.port, target.host);
    const c = { client, upstream };
    this.conns.add(c);
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on("data", (d: Buffer) => {
        if (this.holes) return; // swallowed: the peer sees silence, not a close
        if (this.latencyMs > 0) {
          setTimeout(() => {
            if (!to.destroyed) to.write(d);
          }, this.latencyMs);
        } else to.write(d);
      });
    };
    pipe(client, upstream);
    pipe(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.conns.delete(c);
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  }

  /** Everything sent either way is swallowed; connections stay open. */
  blackhole(on = true): void {
    this.holes = on;
  }

  /** Cut every open connection (RST). */
  cutAll(): void {
    for (const { client, upstream } of this.conns) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.conns.clear();
  }

  get connections(): number {
    return this.conns.size;
  }

  async stop(): Promise<void> {
    this.cutAll();
    await new Promise<void>((res) => {
      this.server.close(() => {
        res();
      });
    });
  }
}
