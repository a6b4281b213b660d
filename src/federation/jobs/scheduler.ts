/**
 * Cron scheduling of the federation jobs (seed §3.2) with croner. Each tick calls the job's run();
 * overlapping ticks in this process are skipped (croner `protect`) and the JobLock keeps other
 * instances out. A failing run is logged and counted, never thrown out of the timer.
 */
import { Cron } from "croner";
import { RelaisError } from "../../core/errors.js";
import type { Logger } from "../../core/ports.js";

export const JOB_NAMES = ["push-outbox", "fetch-outbox", "fetch-inbox"] as const;
export type JobName = (typeof JOB_NAMES)[number];

export function isJobName(v: string): v is JobName {
  return (JOB_NAMES as readonly string[]).includes(v);
}

/** Default schedules (6 fields: seconds first). Stored in the config table under `federation.schedule.<job>`. */
export const DEFAULT_SCHEDULES: Readonly<Record<JobName, string>> = {
  "push-outbox": "*/10 * * * * *",
  "fetch-outbox": "*/5 * * * * *",
  "fetch-inbox": "*/15 * * * * *",
};

/** Throws RELAIS_ERR_FED_SCHEDULE_INVALID unless croner accepts the pattern. */
export function validateSchedule(pattern: string): string {
  try {
    const probe = new Cron(pattern, { paused: true });
    const next = probe.nextRun();
    probe.stop();
    if (next === null) throw new Error("never runs");
  } catch (e) {
    throw new RelaisError(
      "RELAIS_ERR_FED_SCHEDULE_INVALID",
      `Invalid cron pattern ${JSON.stringify(pattern)}`,
      { pattern, reason: e instanceof Error ? e.message : String(e) },
    );
  }
  return pattern;
}

export class JobScheduler {
  private readonly crons = new Map<JobName, Cron>();

  constructor(
    private readonly run: (job: JobName) => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  /** (Re)schedules every job in `schedules`; a job with an empty pattern is not scheduled. */
  start(schedules: Readonly<Partial<Record<JobName, string>>>): void {
    this.stop();
    for (const job of JOB_NAMES) {
      const pattern = schedules[job];
      if (pattern === undefined || pattern === "") continue;
      const cron = new Cron(
        validateSchedule(pattern),
        {
          name: `relais.${job}.${Math.random().toString(36).slice(2)}`,
          protect: true,
          unref: true,
          catch: (e: unknown) => {
            this.logger.error({ job, err: e }, "job run failed");
          },
        },
        async () => {
          await this.run(job);
        },
      );
      this.crons.set(job, cron);
    }
  }

  nextRun(job: JobName): Date | null {
    return this.crons.get(job)?.nextRun() ?? null;
  }

  stop(): void {
    for (const c of this.crons.values()) c.stop();
    this.crons.clear();
  }
}
