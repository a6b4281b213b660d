/** Federation counters for /health and /metrics (monotonic since start, except the gauges). */
export interface FederationCounters {
  /** Outbound: messages written to the stream (resends included). */
  sent: number;
  /** Outbound: receipts (XEP-0184) received. */
  delivered: number;
  /** Outbound: resends after a timeout or a retryable bounce. */
  retried: number;
  /** Outbound: rows dead-lettered (permanent rejection, oversize, attempts exhausted). */
  deadLettered: number;
  /** Outbound: bounces (error stanzas) received. */
  bounced: number;
  /** Outbound: records written to the Outbox by push-outbox / real time. */
  recordsQueued: number;
  /** Outbound: messages written to the Outbox. */
  messagesQueued: number;
  /** Inbound: messages received (all, before any check). */
  received: number;
  /** Inbound: messages accepted (receipt sent). */
  accepted: number;
  /** Inbound: messages refused with an error stanza (unknown sender/user, bad pack, rights). */
  rejected: number;
  /** Inbound: of which from a JID that is not a registered App (RELIABILITY.md S1). */
  rejectedUnknownSender: number;
  /** Inbound: replays of a message already committed (acknowledged, not applied again; S3). */
  duplicates: number;
  /** Inbound: records applied to the local system. */
  recordsApplied: number;
  /** Inbound: records skipped because the local system already holds them (idempotent re-apply). */
  recordsSkipped: number;
  /** Inbound: records refused per record (outside the user's rights; S2). */
  recordsRejected: number;
  /** Inbound: messages parked in the Inbox after a retryable apply failure. */
  parked: number;
  /** Job runs by outcome. */
  jobRuns: number;
  jobFailures: number;
  /** Job ticks skipped because the job was already running (here or elsewhere). */
  jobBusy: number;
}

export function newCounters(): FederationCounters {
  return {
    sent: 0,
    delivered: 0,
    retried: 0,
    deadLettered: 0,
    bounced: 0,
    recordsQueued: 0,
    messagesQueued: 0,
    received: 0,
    accepted: 0,
    rejected: 0,
    rejectedUnknownSender: 0,
    duplicates: 0,
    recordsApplied: 0,
    recordsSkipped: 0,
    recordsRejected: 0,
    parked: 0,
    jobRuns: 0,
    jobFailures: 0,
    jobBusy: 0,
  };
}
