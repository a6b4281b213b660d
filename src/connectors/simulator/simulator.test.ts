import { describe, expect, it } from "vitest";
import { Gateway } from "../../core/gateway.js";
import { MemoryValueStore } from "../../core/model/memory-value-store.js";
import { MemorySecurityStore } from "../../core/security/memory-security-store.js";
import { ANONYMOUS, principal } from "../../core/security/principal.js";
import { FakeClock, InsecureTestCrypto, ManualScheduler } from "../../core/testing/fakes.js";
import type { SubscriptionNotification } from "../../core/access/envelopes.js";
import { defaultFleet, SimulatorConnector } from "./simulator.js";
import { Prng } from "./prng.js";

const ADMIN = principal("admin", "ADMIN");

async function run(seed: number) {
  const clock = new FakeClock();
  const scheduler = new ManualScheduler(clock);
  const gw = new Gateway({
    clock,
    scheduler,
    crypto: new InsecureTestCrypto(),
    valueStore: new MemoryValueStore(),
    securityStore: new MemorySecurityStore(),
  });
  const sim = new SimulatorConnector({ devices: defaultFleet(1), seed, tickMs: 1000, scheduler });
  await gw.registerConnector(sim);
  await gw.start();
  return { gw, sim, clock, scheduler };
}

describe("Prng", () => {
  it("is repeatable per seed and spreads over [0,1)", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
    expect(new Prng(43).next()).not.toBe(new Prng(42).next());
  });
});

describe("SimulatorConnector", () => {
  it("declares the devices with their kinds, types and units", async () => {
    const { gw } = await run(1);
    expect(gw.describeResource(ANONYMOUS, "meter-1", "power", "active")).toMatchObject({
      response: { type: "SENSOR", valueType: "float", metadata: { unit: { value: "W" } } },
    });
    expect(gw.describeResource(ANONYMOUS, "thermostat-1", "climate", "setpoint")).toMatchObject({
      response: { type: "PROPERTY" },
    });
    expect(gw.describeResource(ADMIN, "thermostat-1", "climate", "setTemperature")).toMatchObject({
      response: { type: "ACTION", parameters: [{ name: "target", type: "float" }] },
    });
    expect(gw.get(ANONYMOUS, "/door-1/contact/open")).toMatchObject({
      response: { type: "boolean", value: false },
    });
    expect(gw.get(ANONYMOUS, "/gps-1/position/location")).toMatchObject({
      response: { type: "geojson", value: { type: "Point" } },
    });
  });

  it("drives a subscription end to end, repeatably per seed", async () => {
    const collect = async (seed: number) => {
      const { gw, scheduler, sim } = await run(seed);
      const got: SubscriptionNotification[] = [];
      const s = gw.subscribe(ANONYMOUS, "/meter-1/power/active", { listener: (n) => got.push(n) });
      expect(s.statusCode).toBe(200);
      scheduler.advance(10_000);
      expect(sim.ticks).toBe(10);
      // The last notification is the current value.
      expect(gw.get(ANONYMOUS, "/meter-1/power/active")).toMatchObject({
        response: { value: got.at(-1)?.value },
      });
      await gw.stop();
      return got;
    };
    const a = await collect(7);
    const b = await collect(7);
    const c = await collect(8);
    expect(a).toHaveLength(10);
    expect(a.map((n) => n.timestamp)).toEqual(
      Array.from({ length: 10 }, (_, i) => 1_700_000_000_000 + (i + 1) * 1000),
    );
    expect(a.every((n) => typeof n.value === "number" && n.value >= 0)).toBe(true);
    expect(b).toEqual(a);
    expect(c.map((n) => n.value)).not.toEqual(a.map((n) => n.value));
  });

  it("integrates energy from power", async () => {
    const { gw, scheduler } = await run(3);
    const powers: number[] = [];
    gw.subscribe(ANONYMOUS, "/meter-1/power/active", { listener: (n) => powers.push(n.value as number) });
    scheduler.advance(3000);
    const expected = powers.reduce((s, p) => s + (p * 1000) / 3_600_000, 0);
    const r = gw.get(ANONYMOUS, "/meter-1/power/energy");
    expect("response" in r && (r.response.value as number)).toBeCloseTo(expected, 3);
  });

  it("routes SET and ACT to the thermostat, with triggered state variables", async () => {
    const { gw, scheduler } = await run(1);
    expect(await gw.set(ADMIN, "/thermostat-1/climate/setpoint", 28)).toMatchObject({
      statusCode: 200,
      response: { value: 28 },
    });
    expect(await gw.set(ADMIN, "/thermostat-1/climate/setpoint", 99)).toMatchObject({
      statusCode: 400,
      error: { code: "RELAIS_ERR_ACCESS_BAD_PARAMETERS" },
    });
    const act = await gw.act(ADMIN, "/thermostat-1/climate/setTemperature", { target: 25 });
    if (!("response" in act)) throw new Error(JSON.stringify(act));
    expect(act.response.status).toBe("EXECUTED");
    expect(act.triggered.map((t) => [t.uri, t.response.value])).toEqual([
      ["/thermostat-1/climate/target", 25],
      ["/thermostat-1/climate/mode", "heating"],
    ]);
    // The temperature drifts towards the new setpoint.
    const before = gw.get(ANONYMOUS, "/thermostat-1/climate/temperature");
    scheduler.advance(60_000);
    const after = gw.get(ANONYMOUS, "/thermostat-1/climate/temperature");
    if (!("response" in before) || !("response" in after)) throw new Error("GET failed");
    expect(Math.abs((after.response.value as number) - 25)).toBeLessThan(
      Math.abs((before.response.value as number) - 25),
    );
  });

  it("stops ticking when stopped and starts idempotently", async () => {
    const { gw, sim, scheduler } = await run(1);
    await sim.start();
    expect(scheduler.pending).toBe(2); // the gateway's flush timer and one simulator timer
    await gw.stop();
    await sim.stop();
    scheduler.advance(5000);
    expect(sim.ticks).toBe(0);
  });

  it("keeps working across a gateway restart (values restored, actions re-declared)", async () => {
    const clock = new FakeClock();
    const scheduler = new ManualScheduler(clock);
    const valueStore = new MemoryValueStore();
    const securityStore = new MemorySecurityStore();
    const boot = async () => {
      const gw = new Gateway({
        clock,
        scheduler,
        valueStore,
        securityStore,
        crypto: new InsecureTestCrypto(),
      });
      const sim = new SimulatorConnector({ devices: defaultFleet(1), seed: 5, scheduler });
      await gw.registerConnector(sim);
      await gw.start();
      return gw;
    };
    const gw1 = await boot();
    scheduler.advance(5000);
    const energy = gw1.get(ANONYMOUS, "/meter-1/power/energy");
    await gw1.stop();
    const gw2 = await boot();
    // The ACTION was restored without its parameters (they are not persisted); re-declaring restores them.
    expect(gw2.describeResource(ADMIN, "thermostat-1", "climate", "setTemperature")).toMatchObject({
      response: { parameters: [{ name: "target", type: "float" }] },
    });
    expect(gw2.connectorStatus()).toEqual([{ id: "simulator", running: true, error: null }]);
    const act = await gw2.act(ADMIN, "/thermostat-1/climate/setTemperature", { target: 10 });
    expect(act).toMatchObject({
      statusCode: 200,
      response: { status: "EXECUTED", result: { target: 10, mode: "cooling" } },
    });
    expect("response" in energy && typeof energy.response.value).toBe("number");
    await gw2.stop();
  });
});
