/**
 * Minimal typings for @xmpp/client 0.14 (the package ships none): only what the adapter uses.
 */
declare module "@xmpp/client" {
  export interface Element {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (Element | string)[];
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    text(): string;
    is(name: string, xmlns?: string): boolean;
    getNS(): string | undefined;
    append(...children: (Element | string)[]): Element;
    toString(): string;
  }

  export type XmlChild = Element | string | undefined | null | false;

  export function xml(
    name: string,
    attrs?: Record<string, string | number | undefined> | null,
    ...children: XmlChild[]
  ): Element;

  export type Mechanism = string;
  export type Authenticate = (
    credentials: { username: string; password: string },
    mechanism: Mechanism,
    userAgent?: unknown,
  ) => Promise<void>;

  export interface ClientOptions {
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
    timeout?: number;
    credentials?: (
      authenticate: Authenticate,
      mechanisms: Mechanism[],
      fast: unknown,
      entity: Client,
    ) => Promise<void>;
  }

  export interface StreamManagement {
    enabled: boolean;
    outbound_q: unknown[];
    timeout: number;
    requestAckInterval: number;
  }

  /** The raw or wrapped socket: net.Socket for TCP; a wrapper with `.socket` for direct TLS. */
  export interface XmppSocket {
    secure?: boolean;
    socket?: import("node:net").Socket | null;
    setNoDelay?: (noDelay?: boolean) => unknown;
    remoteAddress?: string;
    destroy?: () => unknown;
  }

  export interface Client {
    status: string;
    socket: XmppSocket | null;
    timeout: number;
    options: ClientOptions;
    reconnect: { stop(): void; start(): void };
    streamManagement: StreamManagement;
    iqCaller: { request(stanza: Element, timeout?: number): Promise<Element> };
    isSecure(): boolean;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    write(data: string): Promise<void>;
    on(event: "stanza" | "element" | "nonza", listener: (el: Element) => void): this;
    on(event: "error", listener: (err: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
    removeAllListeners(event?: string): this;
    removeListener(event: string, listener: (...args: never[]) => void): this;
  }

  export function client(options: ClientOptions): Client;
}
