import { describe, expect, it } from "vitest";
import { parseSelector } from "./selector.js";
import { mapName, validateMapping } from "./id-mapping.js";
import { retryDelay } from "./backoff.js";
import { Mutex } from "./mutex.js";
import { Batcher } from "./batcher.js";

const n = (provider: string, service: string, resource: string) => ({ provider, service, resource });

describe("parseSelector", () => {
  it("matches wildcards per segment", () => {
    const s = parseSelector("meter-*/power/*");
    expect(s.matches(n("meter-12", "power", "active"))).toBe(true);
    expect(s.matches(n("meter-12", "energy", "active"))).toBe(false);
    expect(s.matches(n("xmeter-12", "power", "active"))).toBe(false);
    expect(s.matchesProvider("meter-1")).toBe(true);
    expect(s.matchesProvider("other")).toBe(false);
  });
  it("treats missing segments as any, accepts lists and a leading slash", () => {
    const s = parseSelector("/meter-12, */*/temperature");
    expect(s.matches(n("meter-12", "x", "y"))).toBe(true);
    expect(s.matches(n("room", "env", "temperature"))).toBe(true);
    expect(s.matches(n("room", "env", "humidity"))).toBe(false);
  });
  it("escapes dots and rejects bad input with a code", () => {
    expect(parseSelector("a.b/*/*").matches(n("aXb", "s", "r"))).toBe(false);
    for (const bad of ["", "a/b/c/d", "a//b", "a/$/b"]) {
      expect(() => parseSelector(bad)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_FED_CONSUMER_INVALID" }),
      );
    }
  });
});

describe("id mapping", () => {
  it("applies templates and tables", () => {
    const m = validateMapping({ provider: "ext-*", resource: { active: "power" } });
    expect(mapName(m, n("meter-1", "power", "active"))).toEqual(n("ext-meter-1", "power", "power"));
    expect(mapName(m, n("meter-1", "power", "other"))).toEqual(n("ext-meter-1", "power", "other"));
    expect(mapName(validateMapping({ provider: "site-a" }), n("p", "s", "r"))).toEqual(n("site-a", "s", "r"));
    expect(mapName(null, n("p", "s", "r"))).toEqual(n("p", "s", "r"));
  });
  it("rejects invalid rules", () => {
    for (const bad of [[], { provider: "a/b" }, { foo: "x" }, { service: { a: "" } }, { provider: 3 }]) {
      expect(() => validateMapping(bad)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_FED_CONSUMER_INVALID" }),
      );
    }
    expect(validateMapping(null)).toEqual({});
  });
});

describe("retryDelay", () => {
  it("grows exponentially, stays within [step/2, step] and the cap", () => {
    const o = { baseMs: 1000, maxMs: 60_000 };
    expect(retryDelay(1, o, () => 0)).toBe(500);
    expect(retryDelay(1, o, () => 0.999999)).toBe(1000);
    expect(retryDelay(3, o, () => 0)).toBe(2000);
    expect(retryDelay(40, o, () => 0.999999)).toBe(60_000);
    expect(retryDelay(40, o, () => 0)).toBe(30_000);
  });
});

describe("Mutex", () => {
  it("tryRun refuses while held; run waits", async () => {
    const m = new Mutex();
    let release!: () => void;
    const first = m.tryRun(
      () =>
        new Promise<number>(
          (r) =>
            (release = () => {
              r(1);
            }),
        ),
    );
    expect(m.locked).toBe(true);
    expect(await m.tryRun(async () => 2)).toEqual({ ran: false });
    const waited = m.run(async () => 3);
    release();
    expect(await first).toEqual({ ran: true, value: 1 });
    expect(await waited).toBe(3);
    expect(m.locked).toBe(false);
  });
});

describe("Batcher", () => {
  it("groups items pushed during a flush and maps results back", async () => {
    const sizes: number[] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 5));
        return items.map((i) => i * 2);
      },
      { maxBatch: 3 },
    );
    const first = b.push(1);
    await new Promise((r) => setImmediate(r));
    const rest = [2, 3, 4, 5].map((i) => b.push(i));
    expect(await Promise.all([first, ...rest])).toEqual([2, 4, 6, 8, 10]);
    expect(sizes).toEqual([1, 3, 1]);
    await b.idle();
  });
  it("rejects every item of a failed flush and keeps going", async () => {
    let fail = true;
    const b = new Batcher<number, number>(async (items) => {
      if (fail) throw new Error("boom");
      return items;
    });
    await expect(b.push(1)).rejects.toThrow("boom");
    fail = false;
    expect(await b.push(2)).toBe(2);
  });
});
