/**
 * `relais job run push-outbox|fetch-outbox|fetch-inbox` (CONTRACTS.md §1): runs one federation job
 * once, on the configured database, and prints its report (`--json` for the whole report).
 *
 * The job runs in this process with its own instance id and, for fetch-outbox, its own XMPP
 * resource (`relais-cli-PID`), so a gateway running on the same database and account is not
 * disturbed: rows are claimed with SKIP LOCKED and jobs take the same lock as the gateway's cron.
 * Values are read from and written to the database; with a gateway running, prefer
 * `POST /api/v1/jobs/{name}/run`, which runs the job inside that gateway.
 */
import type { Command } from "commander";
import { RelaisError, isRelaisError } from "../core/errors.js";
import { systemClock } from "../core/ports.js";
import type { JobReport } from "../federation/federation-node.js";
import { JOB_NAMES, isJobName, type JobName } from "../federation/jobs/scheduler.js";

/** One job run on an opened federation node, then everything closed. */
export interface JobRunner {
  run(name: JobName): Promise<JobReport>;
  close(): Promise<void>;
}

export type OpenJobRunner = (name: JobName) => Promise<JobRunner>;

/** The default: a FederationNode over the configured database and XMPP account. */
export const openConfiguredRunner: OpenJobRunner = async (name) => {
  const { loadConfig } = await import("../config.js");
  const { createLogger } = await import("../log.js");
  const { loadSecretKey } = await import("../adapters/crypto/secret-box.js");
  const { NodeCrypto } = await import("../adapters/crypto/node-crypto.js");
  const { openDatabase, openStores } = await import("../adapters/postgres/open.js");
  const { XmppTransport } = await import("../adapters/xmpp/xmpp-transport.js");
  const { Gateway } = await import("../core/gateway.js");
  const { FederationNode } = await import("../federation/federation-node.js");
  const { MemoryJobLock, PgJobLock } = await import("../federation/jobs/job-lock.js");
  const { OfflineTransport } = await import("../federation/offline-transport.js");

  const config = loadConfig({ env: process.env });
  const logger = createLogger(config.logLevel, "relais-job");
  const key = loadSecretKey(config, logger);
  const db = await openDatabase(config, logger);
  try {
    const stores = await openStores(db, key.box);
    const gateway = new Gateway({
      clock: systemClock,
      crypto: new NodeCrypto(),
      valueStore: stores.values,
      securityStore: stores.security,
      logger,
    });
    await gateway.start();
    const jid = config.xmppJid ?? `relais@${config.xmppDomain ?? "localhost"}`;
    const xmpp =
      name === "fetch-outbox" && config.xmppService !== null && config.xmppPassword !== null
        ? new XmppTransport({
            service: config.xmppService,
            jid,
            password: config.xmppPassword,
            resource: `relais-cli-${process.pid}`,
            allowInsecure: config.xmppAllowInsecure,
            logger,
          })
        : null;
    const transport = xmpp ?? new OfflineTransport(jid);
    const node = new FederationNode({
      gateway,
      stores,
      transport,
      jobLock: config.databaseUrl !== null ? new PgJobLock(db) : new MemoryJobLock(),
      logger,
      instanceId: `cli-${process.pid}`,
      options: { scheduleJobs: false, realtime: false, recoverOnStart: false },
    });
    await node.start();
    if (xmpp) await xmpp.whenOnline(15_000);
    return {
      run: async (job) => {
        const report = await node.runJob(job);
        const sent = report.job === "fetch-outbox" ? (report.report?.sent ?? 0) : 0;
        if (sent > 0 && xmpp) {
          // Give the receipts a moment: rows left 'sent' are confirmed later by the gateway.
          const end = Date.now() + 5_000;
          while (node.counters.delivered < sent && Date.now() < end) {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        return report;
      },
      close: async () => {
        await node.stop();
        await gateway.stop();
        await db.close();
      },
    };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
};

function summary(r: JobReport): string {
  if (!r.ran || !r.report) return `${r.job}: not run (already running)`;
  const parts = Object.entries(r.report)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => `${k} ${String(v)}`);
  const failed = (r.report as { failed?: { consumerId: number; code: string }[] }).failed ?? [];
  for (const f of failed) parts.push(`consumer ${f.consumerId} failed: ${f.code}`);
  return `${r.job}: ${parts.join(", ")}`;
}

export function registerJobCommands(program: Command, open: OpenJobRunner = openConfiguredRunner): void {
  const job = program.command("job").description("federation jobs (seed §3.2): run one now");
  job
    .command("run")
    .description(`run one job once: ${JOB_NAMES.join(" | ")}`)
    .argument("<name>", JOB_NAMES.join(" | "))
    .option("--json", "print the whole report as JSON")
    .action(async (name: string, flags: { json?: boolean }) => {
      if (!isJobName(name)) {
        throw new RelaisError("RELAIS_ERR_FED_UNKNOWN_JOB", `No job ${name}: use ${JOB_NAMES.join(", ")}`, {
          job: name,
        });
      }
      const runner = await open(name);
      let report: JobReport;
      try {
        report = await runner.run(name);
      } finally {
        await runner.close().catch((e: unknown) => {
          if (!isRelaisError(e)) throw e;
        });
      }
      process.stdout.write(`${flags.json ? JSON.stringify(report, null, 2) : summary(report)}\n`);
    });
}
