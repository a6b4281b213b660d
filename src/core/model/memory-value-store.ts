/** ValueStore in memory: for unit tests and the demo (survives a Gateway restart, not a process restart). */
import type { StoredResource, ValueStore } from "../ports.js";

const key = (p: string, s: string, r: string): string => `${p}/${s}/${r}`;

export class MemoryValueStore implements ValueStore {
  private readonly rows = new Map<string, StoredResource>();
  /** Number of saveBatch calls (tests check that writes are batched). */
  batches = 0;

  async loadAll(): Promise<StoredResource[]> {
    return [...this.rows.values()].map((r) => structuredClone(r));
  }

  async saveBatch(resources: readonly StoredResource[]): Promise<void> {
    this.batches++;
    for (const r of resources) this.rows.set(key(r.provider, r.service, r.resource), structuredClone(r));
  }

  async remove(provider: string, service?: string, resource?: string): Promise<void> {
    for (const [k, r] of this.rows) {
      if (r.provider !== provider) continue;
      if (service !== undefined && r.service !== service) continue;
      if (resource !== undefined && r.resource !== resource) continue;
      this.rows.delete(k);
    }
  }

  get size(): number {
    return this.rows.size;
  }
}
