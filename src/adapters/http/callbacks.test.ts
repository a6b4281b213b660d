import { describe, expect, it } from "vitest";
import { silentLogger } from "../../core/ports.js";
import { CallbackDispatcher } from "./callbacks.js";

const n = (i: number) => ({ subscriptionId: "s1", uri: "/p/s/r", timestamp: i, value: i });

describe("CallbackDispatcher", () => {
  it("delivers in order and retries with exponential backoff", async () => {
    const bodies: string[] = [];
    const waits: number[] = [];
    let fail = 2;
    const d = new CallbackDispatcher(
      {
        allowNetworks: ["127.0.0.0/8"],
        baseDelayMs: 100,
        post: async (_u, body) => {
          if (fail-- > 0) return 503;
          bodies.push(body);
          return 204;
        },
        sleep: async (ms) => {
          waits.push(ms);
        },
      },
      silentLogger,
    );
    const url = await d.prepare("http://127.0.0.1:1/hook");
    const { sink, attach } = d.sinkFor(url);
    sink(n(1));
    attach("s1");
    sink(n(2));
    await new Promise((r) => setTimeout(r, 20));
    expect(waits).toEqual([100, 200]);
    expect(bodies.map((b) => JSON.parse(b).value)).toEqual([1, 2]);
    expect(JSON.parse(bodies[0]!)).toMatchObject({ type: "SUBSCRIPTION_NOTIFICATION", subscriptionId: "s1" });
  });
  it("ends the subscription after consecutive dropped notifications", async () => {
    const gaveUp: string[] = [];
    let posts = 0;
    const d = new CallbackDispatcher(
      {
        allowNetworks: ["127.0.0.0/8"],
        maxAttempts: 2,
        maxConsecutiveFailures: 2,
        post: async () => {
          posts++;
          throw new Error("ECONNREFUSED");
        },
        sleep: async () => undefined,
      },
      silentLogger,
      { gaveUp: (id) => gaveUp.push(id) },
    );
    const { sink, attach } = d.sinkFor(await d.prepare("http://127.0.0.1:1/"));
    attach("s1");
    for (let i = 0; i < 5; i++) sink(n(i));
    await new Promise((r) => setTimeout(r, 20));
    expect(gaveUp).toEqual(["s1"]);
    expect(posts).toBe(4);
    expect(d.has("s1")).toBe(false);
  });
  it("refuses a metadata URL and enforces the subscription cap", async () => {
    const d = new CallbackDispatcher({ maxSubscriptions: 1, allowNetworks: ["127.0.0.0/8"] }, silentLogger);
    await expect(d.prepare("http://169.254.169.254/")).rejects.toMatchObject({
      code: "RELAIS_ERR_HTTP_CALLBACK_REFUSED",
    });
    d.sinkFor(await d.prepare("http://127.0.0.1:1/")).attach("a");
    await expect(d.prepare("http://127.0.0.1:1/")).rejects.toMatchObject({
      code: "RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT",
    });
  });
});
