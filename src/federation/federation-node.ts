/**
 * The federation proxy of one gateway (seed §3, CONTRACTS.md §4): the three jobs on cron schedules,
 * real-time push, federation events in real time, delivery tracking, and the admin use cases the
 * API and CLI call. Built from injected parts only (STYLE.md): the core Gateway, the federation
 * stores, a Transport, a JobLock.
 *
 *   const node = new FederationNode({ gateway, stores, transport, jobLock, logger });
 *   await node.start();   // recovers rows left in flight, wires the transport, starts the jobs
 *   ...
 *   await node.stop();    // ≤ 10 s: in-flight rows back to pending (R10)
 */
import { RelaisError } from "../core/errors.js";
import type { Gateway } from "../core/gateway.js";
import { silentLogger, systemClock, type Clock, type Logger, type Transport } from "../core/ports.js";
import { newCounters, type FederationCounters } from "./counters.js";
import { Directory } from "./directory.js";
import { InboundHandler, type InboundMode } from "./inbound.js";
import { InboxApplier } from "./inbox-applier.js";
import { InboxFetcher, type FetchInboxReport, type InboxFetcherOptions } from "./jobs/inbox-fetcher.js";
import { MemoryJobLock, type JobLock } from "./jobs/job-lock.js";
import { OutboxSender, type FetchOutboxReport, type OutboxSenderOptions } from "./jobs/outbox-sender.js";
import { OutboxWriter, type PushOutboxReport } from "./jobs/outbox-writer.js";
import {
  DEFAULT_SCHEDULES,
  JOB_NAMES,
  JobScheduler,
  isJobName,
  validateSchedule,
  type JobName,
} from "./jobs/scheduler.js";
import { LocalSystem } from "./local-system.js";
import { DEFAULT_STANZA_LIMIT } from "./pack.js";
import type {
  AuditEntry,
  FederationStores,
  InboxMessage,
  InboxStatus,
  ListPage,
  OutboxMessage,
  OutboxStatus,
} from "./stores.js";

export interface FederationOptions {
  /** "direct": apply federation events at once (Inbox row as dedup record); "inbox": Fetch Inbox applies. */
  inboundMode: InboundMode;
  /** Largest stanza in bytes (the XMPP server's max_stanza_size must allow it). */
  stanzaLimit: number;
  /** Cron patterns; unset ones come from the config table, then DEFAULT_SCHEDULES. "" disables a job. */
  schedules: Partial<Record<JobName, string>>;
  /** Run the cron scheduler (false: jobs only run when asked, e.g. by tests or the CLI). */
  scheduleJobs: boolean;
  /** Start/stop the transport with the node (false when the caller manages it). */
  manageTransport: boolean;
  /** Real-time push for consumers with realtime = true. */
  realtime: boolean;
  outbox: Partial<OutboxSenderOptions>;
  inbox: Partial<InboxFetcherOptions>;
  /** Cache lifetime of App/user/credential lookups (ms). */
  directoryTtlMs: number;
  /** stop() gives the running batch this long before releasing rows anyway (ms). */
  stopTimeoutMs: number;
  /**
   * At start, put rows this instance left in flight back to pending and resend unconfirmed ones
   * (R3, R4, R10). false for short-lived helpers (the CLI) beside a running gateway.
   */
  recoverOnStart: boolean;
}

export const DEFAULT_FEDERATION_OPTIONS: FederationOptions = {
  inboundMode: "direct",
  stanzaLimit: DEFAULT_STANZA_LIMIT,
  schedules: {},
  scheduleJobs: true,
  manageTransport: true,
  realtime: true,
  outbox: {},
  inbox: {},
  directoryTtlMs: 5_000,
  stopTimeoutMs: 8_000,
  recoverOnStart: true,
};

/** Keys of the config table read at start (values override the defaults, options override them). */
export const CONFIG_KEYS = {
  schedule: (job: JobName) => `federation.schedule.${job}`,
  inboundMode: "federation.inboundMode",
  stanzaLimit: "federation.stanzaLimit",
} as const;

export interface FederationNodeDeps {
  gateway: Gateway;
  stores: FederationStores;
  transport: Transport;
  /** MemoryJobLock (default) for one process; PgJobLock over a PostgreSQL server for several instances. */
  jobLock?: JobLock;
  clock?: Clock;
  logger?: Logger;
  /** claimed_by of this instance's Outbox/Inbox rows; stable across restarts. Default: the transport JID. */
  instanceId?: string;
  options?: Partial<FederationOptions>;
  random?: () => number;
}

export type JobReport =
  | { job: "push-outbox"; ran: boolean; report?: PushOutboxReport }
  | { job: "fetch-outbox"; ran: boolean; report?: FetchOutboxReport }
  | { job: "fetch-inbox"; ran: boolean; report?: FetchInboxReport };

export interface JobState {
  lastRunAt: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  runs: number;
  nextRunAt: number | null;
}

export interface FederationStatus {
  started: boolean;
  transport: string;
  jid: string;
  inboundMode: InboundMode;
  counters: FederationCounters;
  jobs: Record<JobName, JobState>;
}

export interface MessageTrace {
  messageId: string;
  outbox: OutboxMessage | null;
  inbox: InboxMessage[];
  audit: AuditEntry[];
}

export class FederationNode {
  readonly counters: FederationCounters = newCounters();
  readonly local: LocalSystem;
  private readonly options: FederationOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly jobLock: JobLock;
  private readonly directory: Directory;
  private readonly applier: InboxApplier;
  private readonly inbound: InboundHandler;
  private readonly sender: OutboxSender;
  private readonly fetcher: InboxFetcher;
  private readonly writer: OutboxWriter;
  private readonly scheduler: JobScheduler;
  private readonly consumerCrons: JobScheduler[] = [];
  private inboundMode: InboundMode;
  private stanzaLimit: number;
  private started = false;
  private starting: Promise<void> | null = null;
  private readonly jobStates: Record<JobName, JobState>;

  constructor(private readonly deps: FederationNodeDeps) {
    this.options = { ...DEFAULT_FEDERATION_OPTIONS, ...deps.options };
    this.clock = deps.clock ?? systemClock;
    this.logger = (deps.logger ?? silentLogger).child({ component: "federation" });
    this.jobLock = deps.jobLock ?? new MemoryJobLock();
    this.inboundMode = this.options.inboundMode;
    this.stanzaLimit = this.options.stanzaLimit;
    const owner = deps.instanceId ?? deps.transport.jid;
    const { stores } = deps;
    this.local = new LocalSystem(deps.gateway);
    this.directory = new Directory({
      apps: stores.apps,
      users: stores.users,
      userApps: stores.userApps,
      local: this.local,
      clock: this.clock,
      ownJid: deps.transport.jid,
      ttlMs: this.options.directoryTtlMs,
    });
    this.applier = new InboxApplier(this.local, stores.inbox, this.counters, this.logger);
    const random = deps.random ?? Math.random;
    this.sender = new OutboxSender({
      outbox: stores.outbox,
      transport: deps.transport,
      clock: this.clock,
      logger: this.logger,
      counters: this.counters,
      owner,
      options: { ...this.options.outbox, stanzaLimit: this.options.stanzaLimit },
      random,
    });
    this.fetcher = new InboxFetcher({
      inbox: stores.inbox,
      audit: stores.audit,
      directory: this.directory,
      applier: this.applier,
      clock: this.clock,
      logger: this.logger,
      counters: this.counters,
      owner,
      options: this.options.inbox,
      random,
    });
    this.inbound = new InboundHandler({
      inbox: stores.inbox,
      audit: stores.audit,
      directory: this.directory,
      applier: this.applier,
      clock: this.clock,
      logger: this.logger,
      counters: this.counters,
      mode: () => this.inboundMode,
      onParked: () => {
        this.kickInbox();
      },
    });
    this.writer = new OutboxWriter({
      consumers: stores.consumers,
      apps: stores.apps,
      outbox: stores.outbox,
      directory: this.directory,
      local: this.local,
      clock: this.clock,
      logger: this.logger,
      counters: this.counters,
      stanzaLimit: () => this.stanzaLimit,
      onQueued: () => {
        this.sender.kick();
      },
    });
    this.scheduler = new JobScheduler(async (job) => {
      await this.runJob(job, { scheduled: true });
    }, this.logger);
    const state = (): JobState => ({
      lastRunAt: null,
      lastDurationMs: null,
      lastError: null,
      runs: 0,
      nextRunAt: null,
    });
    this.jobStates = { "push-outbox": state(), "fetch-outbox": state(), "fetch-inbox": state() };
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** Idempotent. Recovers rows left in flight by a previous run of this instance (R3, R4, R10). */
  async start(): Promise<void> {
    if (this.started) return;
    this.starting ??= this.doStart().finally(() => {
      this.starting = null;
    });
    await this.starting;
  }

  private async doStart(): Promise<void> {
    const { transport } = this.deps;
    await this.loadConfig();
    this.sender.resume();
    this.fetcher.resume();
    if (this.options.recoverOnStart) {
      const recovered = await this.sender.recover();
      const released = await this.fetcher.recover();
      if (recovered.released + recovered.requeued + released > 0) {
        this.logger.info({ ...recovered, inboxReleased: released }, "federation recovered in-flight rows");
      }
    }
    transport.on("message", this.inbound.handle);
    transport.on("receipt", (id, from) => {
      this.sender.onReceipt(id, from);
    });
    transport.on("bounce", (id, from, condition, text) => {
      this.sender.onBounce(id, from, condition, text);
    });
    transport.on("state", (s) => {
      if (s === "online" && this.started) {
        this.sender.onReconnected().catch((e: unknown) => {
          this.logger.warn({ err: e }, "could not requeue unconfirmed rows after reconnect");
        });
      }
    });
    if (this.options.realtime) await this.writer.loadRealtime();
    this.writer.watch(this.options.realtime);
    this.started = true;
    if (this.options.manageTransport) {
      await transport.start().catch((e: unknown) => {
        // The transport reconnects on its own; the Outbox keeps filling meanwhile.
        this.logger.warn({ err: e }, "federation transport not connected yet");
      });
    }
    if (this.options.scheduleJobs) {
      this.scheduler.start(this.schedules());
      await this.scheduleConsumers();
    }
    // Leftovers of a previous run: apply pending Inbox rows and send due Outbox rows now.
    this.kickInbox();
    this.sender.kick();
  }

  private schedules(): Record<JobName, string> {
    return { ...DEFAULT_SCHEDULES, ...this.configSchedules, ...this.options.schedules };
  }

  private configSchedules: Partial<Record<JobName, string>> = {};

  private async loadConfig(): Promise<void> {
    const { config } = this.deps.stores;
    for (const job of JOB_NAMES) {
      const e = await config.get(CONFIG_KEYS.schedule(job));
      if (e && typeof e.value === "string") {
        try {
          this.configSchedules[job] = e.value === "" ? "" : validateSchedule(e.value);
        } catch (err) {
          this.logger.error({ err, job }, "invalid schedule in config; using the default");
        }
      }
    }
    if (this.deps.options?.inboundMode === undefined) {
      const m = await config.get(CONFIG_KEYS.inboundMode);
      if (m?.value === "direct" || m?.value === "inbox") this.inboundMode = m.value;
    }
    if (this.deps.options?.stanzaLimit === undefined) {
      const l = await config.get(CONFIG_KEYS.stanzaLimit);
      if (typeof l?.value === "number" && l.value >= 2048) this.stanzaLimit = l.value;
    }
  }

  /** Consumers with a schedule of their own get their own cron (push-outbox for that consumer only). */
  private async scheduleConsumers(): Promise<void> {
    for (const c of this.consumerCrons) c.stop();
    this.consumerCrons.length = 0;
    const consumers = await this.deps.stores.consumers.list({ enabled: true });
    for (const c of consumers) {
      if (c.schedule === null || c.schedule === "") continue;
      const s = new JobScheduler(async () => {
        await this.jobLock.tryRun(`push-outbox:${c.id}`, () => this.writer.run((x) => x.id === c.id));
      }, this.logger);
      try {
        s.start({ "push-outbox": c.schedule });
        this.consumerCrons.push(s);
      } catch (e) {
        this.logger.error(
          { err: e, consumerId: c.id },
          "invalid consumer schedule; it runs with the default one",
        );
      }
    }
  }

  private inboxKick = { running: false, again: false };

  /** Runs Fetch Inbox soon; kicks while it runs coalesce into one more run. */
  private kickInbox(): void {
    if (!this.started) return;
    if (this.inboxKick.running) {
      this.inboxKick.again = true;
      return;
    }
    this.inboxKick.running = true;
    void (async () => {
      do {
        this.inboxKick.again = false;
        const r = await this.runJob("fetch-inbox", { scheduled: true });
        // Held elsewhere (another instance, or a run that is ending): try again shortly.
        if (!r.ran) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          this.inboxKick.again = true;
        }
      } while (this.inboxKick.again && this.started);
      this.inboxKick.running = false;
    })();
  }

  /**
   * Idempotent. Stops the jobs, lets the running batch finish (at most stopTimeoutMs), puts this
   * instance's claimed rows back to pending and stops the transport (R10: SIGTERM mid-batch).
   */
  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => undefined);
    if (!this.started) return;
    this.started = false;
    this.scheduler.stop();
    for (const c of this.consumerCrons) c.stop();
    this.consumerCrons.length = 0;
    const settle = Promise.allSettled([
      this.writer.unwatchAndDrain(),
      this.sender.stop(),
      this.fetcher.stop(),
      this.applier.idle(),
      this.inbound.idle(),
    ]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.stopTimeoutMs);
    });
    await Promise.race([settle, timeout]);
    clearTimeout(timer);
    if (this.options.manageTransport) {
      await this.deps.transport.stop().catch((e: unknown) => {
        this.logger.warn({ err: e }, "transport stop failed");
      });
    }
    // Whatever is still claimed by this instance goes back to pending (also after the timeout).
    const owner = this.deps.instanceId ?? this.deps.transport.jid;
    await Promise.allSettled([
      this.deps.stores.outbox.release({ owner }),
      this.deps.stores.inbox.release({ owner }),
    ]);
  }

  // ---- use cases for the admin API and the CLI -------------------------------------------------

  /**
   * Runs one job now. Scheduled ticks skip when the job is already running (here or, with a
   * PgJobLock, on another instance); a manual run reports RELAIS_ERR_FED_JOB_BUSY instead.
   */
  async runJob(name: string, opts: { scheduled?: boolean } = {}): Promise<JobReport> {
    if (!isJobName(name)) throw new RelaisError("RELAIS_ERR_FED_UNKNOWN_JOB", undefined, { job: name });
    const state = this.jobStates[name];
    const t0 = this.clock.now();
    let result;
    try {
      result = await this.jobLock.tryRun(name, () => this.jobBody(name, opts.scheduled === true));
    } catch (e) {
      this.counters.jobFailures++;
      state.lastError = e instanceof Error ? e.message : String(e);
      if (opts.scheduled) {
        this.logger.warn({ err: e, job: name }, "job failed");
        return { job: name, ran: false };
      }
      throw e;
    }
    if (!result.ran) {
      this.counters.jobBusy++;
      if (opts.scheduled) return { job: name, ran: false };
      throw new RelaisError("RELAIS_ERR_FED_JOB_BUSY", undefined, { job: name });
    }
    this.counters.jobRuns++;
    state.runs++;
    state.lastRunAt = t0;
    state.lastDurationMs = this.clock.now() - t0;
    state.lastError = null;
    return { job: name, ran: true, report: result.value } as JobReport;
  }

  private async jobBody(name: JobName, scheduled: boolean): Promise<unknown> {
    switch (name) {
      case "push-outbox":
        // A scheduled tick leaves consumers with their own schedule to their own cron.
        return this.writer.run(scheduled ? (c) => c.schedule === null || c.schedule === "" : undefined);
      case "fetch-outbox":
        return this.sender.run();
      case "fetch-inbox":
        return this.fetcher.run();
    }
  }

  async status(): Promise<FederationStatus> {
    const jobs = {} as Record<JobName, JobState>;
    for (const j of JOB_NAMES) {
      jobs[j] = { ...this.jobStates[j], nextRunAt: this.scheduler.nextRun(j)?.getTime() ?? null };
    }
    return {
      started: this.started,
      transport: this.deps.transport.state,
      jid: this.deps.transport.jid,
      inboundMode: this.inboundMode,
      counters: { ...this.counters },
      jobs,
    };
  }

  async queueDepths(): Promise<{ outbox: Record<OutboxStatus, number>; inbox: Record<InboxStatus, number> }> {
    const [outbox, inbox] = await Promise.all([
      this.deps.stores.outbox.countByStatus(),
      this.deps.stores.inbox.countByStatus(),
    ]);
    return { outbox, inbox };
  }

  listOutbox(page?: ListPage<OutboxStatus>): Promise<OutboxMessage[]> {
    return this.deps.stores.outbox.list(page);
  }

  listInbox(page?: ListPage<InboxStatus>): Promise<InboxMessage[]> {
    return this.deps.stores.inbox.list(page);
  }

  /** Dead rows (all, or those ids) back to pending with fresh attempts; sends them now. */
  async retryOutbox(ids?: readonly number[]): Promise<number> {
    const n = await this.deps.stores.outbox.retry(ids);
    if (n > 0) this.sender.kick();
    return n;
  }

  async retryInbox(ids?: readonly number[]): Promise<number> {
    const n = await this.deps.stores.inbox.retry(ids);
    if (n > 0) this.kickInbox();
    return n;
  }

  /** Gives up on an Outbox row (dead-lettered with the reason "dropped by operator"). */
  async dropOutbox(messageId: string): Promise<void> {
    const row = await this.deps.stores.outbox.get(messageId);
    if (!row) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", undefined, { messageId });
    if (row.status === "delivered" || row.status === "sending") {
      throw new RelaisError("RELAIS_ERR_FED_ROW_STATE", undefined, { messageId, status: row.status });
    }
    await this.deps.stores.outbox.markDead(messageId, "RELAIS_ERR_FED_ROW_STATE: dropped by operator");
  }

  async dropInbox(id: number): Promise<void> {
    const row = await this.deps.stores.inbox.get(id);
    if (!row) throw new RelaisError("RELAIS_ERR_DB_NOT_FOUND", undefined, { id });
    if (row.status === "applied" || row.status === "applying") {
      throw new RelaisError("RELAIS_ERR_FED_ROW_STATE", undefined, { id, status: row.status });
    }
    await this.deps.stores.inbox.markRejected(id, "RELAIS_ERR_FED_ROW_STATE: dropped by operator");
  }

  /** Where a message id is: our Outbox row, Inbox rows from any registered App, audit entries. */
  async trace(messageId: string): Promise<MessageTrace> {
    const { stores } = this.deps;
    const outbox = await stores.outbox.get(messageId);
    const inbox: InboxMessage[] = [];
    for (const app of await stores.apps.list()) {
      const row = await stores.inbox.find(app.jid, messageId);
      if (row) inbox.push(row);
    }
    const audit = (await stores.audit.list({ limit: 1000 })).filter((a) => a.subject === messageId);
    return { messageId, outbox, inbox, audit };
  }

  /** After an admin change of apps, users, user apps or consumers: drop caches, reschedule. */
  async refresh(): Promise<void> {
    this.directory.invalidate();
    this.writer.refresh();
    if (this.started && this.options.realtime) await this.writer.loadRealtime();
    if (this.started && this.options.scheduleJobs) await this.scheduleConsumers();
  }
}
