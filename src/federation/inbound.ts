/**
 * Federation events in real time (seed §3.3): the Transport's `message` handler.
 *
 * 1. Authenticate: the bare sender JID must be a registered App (S1: otherwise refused, audited,
 *    counted, error stanza).
 * 2. Parse and validate the SenML at the edge (src/senml), resolve the target user (the `relais`
 *    element's user or the App's default user) and its local principal.
 * 3. Commit the message to the Inbox, deduplicated on (sender, id) (S3: a replay is acknowledged,
 *    never applied twice). The commits of concurrent messages are grouped in one transaction.
 * 4. In "direct" mode apply at once on behalf of the user (per-record rejection, S2), in "inbox"
 *    mode leave it to Fetch Inbox. Either way the receipt (verdict `accepted`) follows the Inbox
 *    commit, so a crash after the receipt loses nothing (R4).
 * Throwing (database down) sends no answer at all: the sender resends the same id later.
 */
import { RelaisError, isRelaisError, type ErrorCode } from "../core/errors.js";
import type { Clock, FederationStanza, InboundVerdict, Logger, StanzaErrorCondition } from "../core/ports.js";
import { Batcher } from "./batcher.js";
import type { FederationCounters } from "./counters.js";
import type { Directory } from "./directory.js";
import type { InboxApplier } from "./inbox-applier.js";
import { describeRejections } from "./local-system.js";
import { recordsFromBody, type FederatedRecord } from "./records.js";
import type { AuditLog, InboxStore, NewInboxMessage } from "./stores.js";

export type InboundMode = "direct" | "inbox";

export interface InboundDeps {
  inbox: InboxStore;
  audit: AuditLog;
  directory: Directory;
  applier: InboxApplier;
  clock: Clock;
  logger: Logger;
  counters: FederationCounters;
  mode: () => InboundMode;
  /** Called after a row was committed for Fetch Inbox (inbox mode, parked messages). */
  onParked?: () => void;
  /** Largest body accepted (bytes). */
  maxBodyBytes?: number;
}

const CONDITIONS: Partial<Record<ErrorCode, StanzaErrorCondition>> = {
  RELAIS_ERR_FED_UNKNOWN_SENDER: "not-authorized",
  RELAIS_ERR_FED_UNKNOWN_USER: "forbidden",
  RELAIS_ERR_FED_FORBIDDEN_RECORD: "forbidden",
  RELAIS_ERR_FED_BAD_PACK: "bad-request",
  RELAIS_ERR_SECURITY_BAD_CREDENTIALS: "forbidden",
  RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND: "forbidden",
};

export class InboundHandler {
  private readonly commits: Batcher<NewInboxMessage, { inserted: boolean; id: number }>;

  constructor(private readonly deps: InboundDeps) {
    this.commits = new Batcher((items) => this.deps.inbox.insertManyIfAbsent(items), { maxBatch: 500 });
  }

  /** The Transport `message` handler. */
  readonly handle = async (stanza: FederationStanza): Promise<InboundVerdict> => {
    const { counters, directory } = this.deps;
    counters.received++;
    const sender = stanza.from.toLowerCase();
    const app = await directory.appByJid(sender);
    if (!app) {
      counters.rejectedUnknownSender++;
      return this.reject(
        stanza,
        new RelaisError("RELAIS_ERR_FED_UNKNOWN_SENDER", undefined, { from: sender }),
      );
    }
    let records: FederatedRecord[];
    let identity;
    try {
      records = recordsFromBody(stanza.body, this.deps.clock.now(), this.deps.maxBodyBytes);
      identity = await directory.inboundIdentity(app, stanza.user);
    } catch (e) {
      if (isRelaisError(e) && !e.retryable) return this.reject(stanza, e);
      throw e;
    }
    const row = await this.commits.push({
      senderJid: sender,
      messageId: stanza.id,
      federatedUser: identity.federatedId,
      consumerRef: stanza.consumer ?? null,
      body: stanza.body,
    });
    if (!row.inserted) {
      counters.duplicates++;
      const existing = await this.deps.inbox.get(row.id);
      if (existing?.status === "rejected") {
        counters.rejected++;
        return {
          kind: "rejected",
          code: "RELAIS_ERR_FED_FORBIDDEN_RECORD",
          message: existing.lastError ?? "rejected",
          condition: "forbidden",
        };
      }
      counters.accepted++;
      return { kind: "accepted" };
    }
    if (this.deps.mode() === "inbox") {
      counters.accepted++;
      this.deps.onParked?.();
      return { kind: "accepted" };
    }
    let outcome;
    try {
      outcome = await this.deps.applier.apply(row.id, identity.principal, records);
    } catch (e) {
      // Committed: Fetch Inbox applies it later. The receipt can go now.
      counters.parked++;
      counters.accepted++;
      this.deps.logger.warn(
        { err: e, messageId: stanza.id, from: sender },
        "apply failed; message parked in the Inbox",
      );
      this.deps.onParked?.();
      return { kind: "accepted" };
    }
    if (outcome.rejected.length > 0) {
      const text = describeRejections(outcome.rejected, records.length);
      await this.deps.inbox.markRejected(row.id, `RELAIS_ERR_FED_FORBIDDEN_RECORD: ${text}`);
      return this.reject(
        stanza,
        new RelaisError("RELAIS_ERR_FED_FORBIDDEN_RECORD", text, {
          rejected: outcome.rejected.slice(0, 20),
          applied: outcome.applied,
        }),
        identity.federatedId,
      );
    }
    this.deps.applier.markAppliedLater(row.id);
    counters.accepted++;
    return { kind: "accepted" };
  };

  private async reject(stanza: FederationStanza, e: RelaisError, user?: string): Promise<InboundVerdict> {
    this.deps.counters.rejected++;
    this.deps.logger.warn(
      { code: e.code, from: stanza.from, messageId: stanza.id, ...(user ? { user } : {}) },
      "federation message rejected",
    );
    try {
      await this.deps.audit.append({
        actor: stanza.from,
        action: "federation.message.rejected",
        subject: stanza.id,
        outcome: e.code,
        details: { message: e.message, ...e.details, ...(user ? { user } : {}) },
      });
    } catch (err) {
      this.deps.logger.error({ err, messageId: stanza.id }, "could not audit a rejected message");
    }
    return {
      kind: "rejected",
      code: e.code,
      message: e.message,
      condition: CONDITIONS[e.code] ?? "not-acceptable",
    };
  }

  async idle(): Promise<void> {
    await this.commits.idle();
  }
}
