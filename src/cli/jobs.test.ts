import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobReport } from "../federation/federation-node.js";
import { registerJobCommands, type JobRunner } from "./jobs.js";

function program(runner: JobRunner, opened: string[]): Command {
  const p = new Command("relais").exitOverride();
  registerJobCommands(p, async (name) => {
    opened.push(name);
    return runner;
  });
  return p;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("relais job run", () => {
  it("runs the named job once, prints a summary, closes the runner", async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    let closed = 0;
    const runner: JobRunner = {
      run: async (name) =>
        ({
          job: name,
          ran: true,
          report: { consumers: 2, records: 40, messages: 1, failed: [] },
        }) as JobReport,
      close: async () => {
        closed++;
      },
    };
    const opened: string[] = [];
    await program(runner, opened).parseAsync(["job", "run", "push-outbox"], { from: "user" });
    expect(opened).toEqual(["push-outbox"]);
    expect(closed).toBe(1);
    expect(out.join("")).toBe("push-outbox: consumers 2, records 40, messages 1\n");
    out.length = 0;
    await program(runner, opened).parseAsync(["job", "run", "fetch-inbox", "--json"], { from: "user" });
    expect(JSON.parse(out.join(""))).toMatchObject({ job: "fetch-inbox", ran: true });
  });

  it("refuses an unknown job with its code, without opening anything", async () => {
    const opened: string[] = [];
    const runner: JobRunner = {
      run: async () => ({ job: "fetch-inbox", ran: false }),
      close: async () => undefined,
    };
    await expect(
      program(runner, opened).parseAsync(["job", "run", "rm-rf"], { from: "user" }),
    ).rejects.toMatchObject({
      code: "RELAIS_ERR_FED_UNKNOWN_JOB",
    });
    expect(opened).toEqual([]);
  });

  it("closes the runner when the job fails", async () => {
    let closed = 0;
    const runner: JobRunner = {
      run: async () => {
        throw Object.assign(new Error("busy"), { code: "RELAIS_ERR_FED_JOB_BUSY" });
      },
      close: async () => {
        closed++;
      },
    };
    await expect(
      program(runner, []).parseAsync(["job", "run", "fetch-outbox"], { from: "user" }),
    ).rejects.toThrow("busy");
    expect(closed).toBe(1);
  });
});
