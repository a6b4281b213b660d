/**
 * The simulator connector: simulated devices for demos and tests, driven by a seeded PRNG and an
 * injected Scheduler, so a run is repeatable (tests call tick() or advance a ManualScheduler;
 * production passes timerScheduler).
 *
 * Devices (provider = device id):
 * - meter:      power/active (SENSOR float, W), power/energy (SENSOR float, Wh, integrates active)
 * - thermostat: climate/temperature (SENSOR float, Cel), climate/setpoint (PROPERTY float, Cel, 5..30),
 *               climate/target (STATE_VARIABLE float), climate/mode (STATE_VARIABLE string:
 *               idle | heating | cooling), climate/setTemperature (ACTION, parameter target: float;
 *               sets target and mode, which appear in the ACT response's `triggered`)
 * - door:       contact/open (SENSOR boolean)
 * - gps:        position/location (SENSOR geojson Point), also mirrored to admin/location
 */
import { RelaisError } from "../../core/errors.js";
import type {
  Connector,
  ConnectorActRequest,
  ConnectorContext,
  ConnectorSetRequest,
  Scheduler,
} from "../../core/ports.js";
import type { ProviderDeclaration, ResourceUpdate } from "../../core/model/types.js";
import { Prng } from "./prng.js";

export type DeviceKind = "meter" | "thermostat" | "door" | "gps";

export interface DeviceConfig {
  kind: DeviceKind;
  /** Provider name (a valid model name). */
  id: string;
  friendlyName?: string;
  /** Start position [longitude, latitude] (gps; also admin/location for the others). */
  position?: [number, number];
}

export interface SimulatorOptions {
  /** Connector id; default "simulator". */
  id?: string;
  devices: readonly DeviceConfig[];
  /** PRNG seed; default 1. */
  seed?: number;
  /** Tick period in ms; default 1000. */
  tickMs?: number;
  scheduler: Scheduler;
}

interface MeterState {
  kind: "meter";
  cfg: DeviceConfig;
  power: number;
  energy: number;
}
interface ThermostatState {
  kind: "thermostat";
  cfg: DeviceConfig;
  temperature: number;
  setpoint: number;
  mode: "idle" | "heating" | "cooling";
}
interface DoorState {
  kind: "door";
  cfg: DeviceConfig;
  open: boolean;
}
interface GpsState {
  kind: "gps";
  cfg: DeviceConfig;
  lon: number;
  lat: number;
}
type DeviceState = MeterState | ThermostatState | DoorState | GpsState;

const SETPOINT_MIN = 5;
const SETPOINT_MAX = 30;
const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** A ready-made fleet: `n` devices of each kind (meter-1, thermostat-1, door-1, gps-1, …). */
export function defaultFleet(n = 1): DeviceConfig[] {
  const out: DeviceConfig[] = [];
  for (let i = 1; i <= n; i++) {
    out.push({ kind: "meter", id: `meter-${i}`, friendlyName: `Meter ${i}` });
    out.push({ kind: "thermostat", id: `thermostat-${i}`, friendlyName: `Thermostat ${i}` });
    out.push({ kind: "door", id: `door-${i}`, friendlyName: `Door ${i}` });
    out.push({
      kind: "gps",
      id: `gps-${i}`,
      friendlyName: `Tracker ${i}`,
      position: [5.72 + i / 100, 45.18],
    });
  }
  return out;
}

export class SimulatorConnector implements Connector {
  readonly id: string;
  private ctx: ConnectorContext | null = null;
  private readonly prng: Prng;
  private readonly devices: DeviceState[];
  private readonly tickMs: number;
  private readonly scheduler: Scheduler;
  private cancel: (() => void) | null = null;
  private declared = false;
  /** Number of ticks run so far. */
  ticks = 0;

  constructor(options: SimulatorOptions) {
    this.id = options.id ?? "simulator";
    this.prng = new Prng(options.seed ?? 1);
    this.tickMs = options.tickMs ?? 1000;
    this.scheduler = options.scheduler;
    const ids = new Set<string>();
    this.devices = options.devices.map((cfg) => {
      if (ids.has(cfg.id)) throw new Error(`Duplicate simulated device ${cfg.id}`);
      ids.add(cfg.id);
      switch (cfg.kind) {
        case "meter":
          return { kind: "meter", cfg, power: round(this.prng.range(100, 500)), energy: 0 };
        case "thermostat":
          return {
            kind: "thermostat",
            cfg,
            temperature: round(this.prng.range(17, 22)),
            setpoint: 20,
            mode: "idle",
          };
        case "door":
          return { kind: "door", cfg, open: false };
        case "gps": {
          const [lon, lat] = cfg.position ?? [5.72, 45.18];
          return { kind: "gps", cfg, lon, lat };
        }
      }
    });
  }

  attach(context: ConnectorContext): void {
    this.ctx = context;
  }

  private context(): ConnectorContext {
    if (!this.ctx) throw new Error("SimulatorConnector used before attach()");
    return this.ctx;
  }

  /** Declares the devices (once) and starts ticking. Idempotent. */
  async start(): Promise<void> {
    if (this.cancel) return;
    const ctx = this.context();
    if (!this.declared) {
      for (const d of this.devices) ctx.declare(this.declaration(d));
      this.declared = true;
    }
    ctx.push(this.devices.flatMap((d) => this.values(d)));
    this.cancel = this.scheduler.every(this.tickMs, () => {
      try {
        this.tick();
      } catch (e) {
        ctx.logger.warn({ err: e }, "simulator tick failed");
      }
    });
  }

  async stop(): Promise<void> {
    this.cancel?.();
    this.cancel = null;
  }

  get running(): boolean {
    return this.cancel !== null;
  }

  /** Advances every device by one step and pushes the new values as one batch. */
  tick(): void {
    const dt = this.tickMs;
    for (const d of this.devices) {
      switch (d.kind) {
        case "meter":
          d.power = round(Math.max(0, d.power + this.prng.range(-40, 40)));
          d.energy = round(d.energy + (d.power * dt) / 3_600_000, 4);
          break;
        case "thermostat": {
          const drift = (d.setpoint - d.temperature) * 0.1;
          d.temperature = round(d.temperature + drift + this.prng.range(-0.2, 0.2));
          break;
        }
        case "door":
          if (this.prng.chance(0.1)) d.open = !d.open;
          break;
        case "gps":
          d.lon = round(d.lon + this.prng.range(-0.0005, 0.0005), 6);
          d.lat = round(d.lat + this.prng.range(-0.0005, 0.0005), 6);
          break;
      }
    }
    this.ticks++;
    this.context().push(this.devices.flatMap((d) => this.values(d, true)));
  }

  private declaration(d: DeviceState): ProviderDeclaration {
    const base = {
      name: d.cfg.id,
      friendlyName: d.cfg.friendlyName ?? d.cfg.id,
      location: { type: "Point", coordinates: d.cfg.position ?? [5.72, 45.18] },
    };
    switch (d.kind) {
      case "meter":
        return {
          ...base,
          description: "Simulated electricity meter",
          services: [
            {
              name: "power",
              resources: [
                {
                  name: "active",
                  kind: "SENSOR",
                  valueType: "float",
                  metadata: { unit: "W", description: "Active power" },
                },
                {
                  name: "energy",
                  kind: "SENSOR",
                  valueType: "float",
                  metadata: { unit: "Wh", description: "Energy since start" },
                },
              ],
            },
          ],
        };
      case "thermostat":
        return {
          ...base,
          description: "Simulated thermostat",
          services: [
            {
              name: "climate",
              resources: [
                { name: "temperature", kind: "SENSOR", valueType: "float", metadata: { unit: "Cel" } },
                {
                  name: "setpoint",
                  kind: "PROPERTY",
                  valueType: "float",
                  metadata: { unit: "Cel", min: SETPOINT_MIN, max: SETPOINT_MAX },
                },
                { name: "target", kind: "STATE_VARIABLE", valueType: "float", metadata: { unit: "Cel" } },
                { name: "mode", kind: "STATE_VARIABLE", valueType: "string" },
                {
                  name: "setTemperature",
                  kind: "ACTION",
                  valueType: "object",
                  parameters: [{ name: "target", type: "float" }],
                  metadata: { description: "Heat or cool towards a target temperature" },
                },
              ],
            },
          ],
        };
      case "door":
        return {
          ...base,
          description: "Simulated door contact",
          services: [
            { name: "contact", resources: [{ name: "open", kind: "SENSOR", valueType: "boolean" }] },
          ],
        };
      case "gps":
        return {
          ...base,
          description: "Simulated GPS tracker",
          services: [
            { name: "position", resources: [{ name: "location", kind: "SENSOR", valueType: "geojson" }] },
          ],
        };
    }
  }

  private values(d: DeviceState, onlyChanging = false): ResourceUpdate[] {
    const p = d.cfg.id;
    switch (d.kind) {
      case "meter":
        return [
          { provider: p, service: "power", resource: "active", value: d.power },
          { provider: p, service: "power", resource: "energy", value: d.energy },
        ];
      case "thermostat": {
        const out: ResourceUpdate[] = [
          { provider: p, service: "climate", resource: "temperature", value: d.temperature },
        ];
        if (!onlyChanging) {
          out.push(
            { provider: p, service: "climate", resource: "setpoint", value: d.setpoint },
            { provider: p, service: "climate", resource: "target", value: d.setpoint },
            { provider: p, service: "climate", resource: "mode", value: d.mode },
          );
        }
        return out;
      }
      case "door":
        return [{ provider: p, service: "contact", resource: "open", value: d.open }];
      case "gps": {
        const point = { type: "Point", coordinates: [d.lon, d.lat] };
        return [
          { provider: p, service: "position", resource: "location", value: point },
          {
            provider: p,
            service: "admin",
            resource: "location",
            value: { type: "Point", coordinates: [d.lon, d.lat] },
          },
        ];
      }
    }
  }

  private thermostat(provider: string): ThermostatState {
    const d = this.devices.find((x) => x.cfg.id === provider);
    if (d?.kind !== "thermostat") {
      throw new RelaisError("RELAIS_ERR_MODEL_NOT_FOUND", undefined, { uri: `/${provider}` });
    }
    return d;
  }

  private static checkRange(v: number): void {
    if (v < SETPOINT_MIN || v > SETPOINT_MAX) {
      throw new RelaisError(
        "RELAIS_ERR_ACCESS_BAD_PARAMETERS",
        `Temperature must be within ${SETPOINT_MIN}..${SETPOINT_MAX}`,
        {
          min: SETPOINT_MIN,
          max: SETPOINT_MAX,
        },
      );
    }
  }

  /** SET climate/setpoint: the temperature then drifts towards it. */
  async set(request: ConnectorSetRequest): Promise<void> {
    const d = this.thermostat(request.provider);
    const v = request.value as number;
    SimulatorConnector.checkRange(v);
    d.setpoint = v;
  }

  /** ACT climate/setTemperature(target): sets setpoint, target and mode. */
  async act(request: ConnectorActRequest): Promise<unknown> {
    const d = this.thermostat(request.provider);
    const target = request.parameters.target as number;
    SimulatorConnector.checkRange(target);
    d.setpoint = target;
    d.mode = target > d.temperature ? "heating" : target < d.temperature ? "cooling" : "idle";
    const p = request.provider;
    request.push([
      { provider: p, service: "climate", resource: "target", value: target },
      { provider: p, service: "climate", resource: "mode", value: d.mode },
      { provider: p, service: "climate", resource: "setpoint", value: target },
    ]);
    return { target, mode: d.mode };
  }
}
