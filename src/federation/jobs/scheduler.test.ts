import { describe, expect, it } from "vitest";
import { silentLogger } from "../../core/ports.js";
import { DEFAULT_SCHEDULES, JobScheduler, isJobName, validateSchedule } from "./scheduler.js";
import { MemoryJobLock, advisoryKey } from "./job-lock.js";

describe("validateSchedule", () => {
  it("accepts 5 and 6 field patterns and the defaults", () => {
    expect(validateSchedule("*/5 * * * *")).toBe("*/5 * * * *");
    for (const p of Object.values(DEFAULT_SCHEDULES)) expect(validateSchedule(p)).toBe(p);
  });
  it("rejects garbage with a code", () => {
    for (const bad of ["", "every minute", "61 * * * *", "* * * * * * * *"]) {
      expect(() => validateSchedule(bad)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_FED_SCHEDULE_INVALID" }),
      );
    }
  });
  it("knows the job names", () => {
    expect(isJobName("push-outbox")).toBe(true);
    expect(isJobName("rm-rf")).toBe(false);
  });
});

describe("JobScheduler", () => {
  it("runs a job on its schedule, survives a throwing run, and stops", async () => {
    const runs: string[] = [];
    const s = new JobScheduler(async (job) => {
      runs.push(job);
      throw new Error("boom");
    }, silentLogger);
    s.start({ "fetch-inbox": "* * * * * *" });
    expect(s.nextRun("fetch-inbox")).toBeInstanceOf(Date);
    expect(s.nextRun("push-outbox")).toBeNull();
    await new Promise((r) => setTimeout(r, 2100));
    s.stop();
    const n = runs.length;
    expect(n).toBeGreaterThanOrEqual(1);
    expect(runs.every((j) => j === "fetch-inbox")).toBe(true);
    await new Promise((r) => setTimeout(r, 1100));
    expect(runs.length).toBe(n);
  });
});

describe("MemoryJobLock", () => {
  it("keeps a second run of the same job out, not other jobs", async () => {
    const lock = new MemoryJobLock();
    let release!: () => void;
    const first = lock.tryRun(
      "a",
      () =>
        new Promise<string>(
          (r) =>
            (release = () => {
              r("done");
            }),
        ),
    );
    expect(await lock.tryRun("a", async () => "x")).toEqual({ ran: false });
    expect(await lock.tryRun("b", async () => "y")).toEqual({ ran: true, value: "y" });
    release();
    expect(await first).toEqual({ ran: true, value: "done" });
    expect(advisoryKey("a")).not.toBe(advisoryKey("b"));
    expect(advisoryKey("a")).toBeLessThan(2 ** 31);
  });
});
