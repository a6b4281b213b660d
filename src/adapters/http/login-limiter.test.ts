import { describe, expect, it } from "vitest";
import { LoginLimiter } from "./login-limiter.js";

describe("LoginLimiter", () => {
  it("refuses a client after maxFailures within the window, until the window ends", () => {
    let now = 0;
    const l = new LoginLimiter({ maxFailures: 3, windowMs: 10_000 }, { now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfter("1.2.3.4")).toBe(0);
      l.fail("1.2.3.4");
    }
    expect(l.retryAfter("1.2.3.4")).toBe(10);
    expect(l.retryAfter("5.6.7.8")).toBe(0);
    now = 9_500;
    expect(l.retryAfter("1.2.3.4")).toBe(1);
    now = 10_000;
    expect(l.retryAfter("1.2.3.4")).toBe(0);
  });
  it("tracks a bounded number of clients", () => {
    const l = new LoginLimiter({ maxFailures: 1, maxClients: 2 }, { now: () => 0 });
    l.fail("a");
    l.fail("b");
    l.fail("c");
    expect(l.retryAfter("a")).toBe(0);
    expect(l.retryAfter("c")).toBeGreaterThan(0);
  });
});
