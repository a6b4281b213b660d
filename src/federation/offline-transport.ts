/**
 * The transport of a gateway with no XMPP server configured (CONTRACTS.md §2: "federation
 * offline, Outbox keeps filling"): always offline, every send refused as retryable, so the Outbox
 * keeps the data until a server is configured.
 */
import { RelaisError } from "../core/errors.js";
import type { OutgoingStanza, Transport, TransportEvents, TransportState } from "../core/ports.js";

export class OfflineTransport implements Transport {
  readonly state: TransportState = "offline";
  readonly lastStreamError = null;

  constructor(readonly jid: string) {}

  async start(): Promise<void> {
    // nothing to connect to
  }

  async stop(): Promise<void> {
    // nothing to close
  }

  async send(_stanza: OutgoingStanza): Promise<void> {
    throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE", "No XMPP server is configured (RELAIS_XMPP_SERVICE)");
  }

  async confirm(): Promise<void> {
    throw new RelaisError("RELAIS_ERR_XMPP_OFFLINE", "No XMPP server is configured (RELAIS_XMPP_SERVICE)");
  }

  on<K extends keyof TransportEvents>(_event: K, _handler: TransportEvents[K]): void {
    // no event ever happens
  }
}
