/** Current resource values survive a restart (ports.ts ValueStore). */
import type { ResourceKind, StoredResource, ValueStore } from "../../core/ports.js";
import type { Database } from "./database.js";
import { optMs } from "./sql-values.js";

interface Row {
  provider: string;
  service: string;
  resource: string;
  kind: ResourceKind;
  value_type: string;
  value: unknown;
  ts: unknown;
  metadata: StoredResource["metadata"] | null;
}

export class PgValueStore implements ValueStore {
  constructor(private readonly db: Database) {}

  async loadAll(): Promise<StoredResource[]> {
    const r = await this.db.query<Row>(
      "SELECT provider, service, resource, kind, value_type, value, ts, metadata FROM resource_values",
    );
    return r.rows.map((row) => ({
      provider: row.provider,
      service: row.service,
      resource: row.resource,
      kind: row.kind,
      valueType: row.value_type,
      value: row.value ?? null,
      timestamp: optMs(row.ts),
      metadata: row.metadata ?? {},
    }));
  }

  async saveBatch(resources: readonly StoredResource[]): Promise<void> {
    if (resources.length === 0) return;
    // The last write of a key wins (one statement cannot update the same row twice).
    const latest = new Map<string, StoredResource>();
    for (const r of resources) latest.set(JSON.stringify([r.provider, r.service, r.resource]), r);
    const batch = [...latest.values()].map((r) => ({
      p: r.provider,
      s: r.service,
      r: r.resource,
      k: r.kind,
      t: r.valueType,
      // Wrapped so that a JSON null value and "never set" both round-trip as null.
      v: r.value === undefined ? null : r.value,
      ts: r.timestamp === null ? null : new Date(r.timestamp).toISOString(),
      m: r.metadata,
    }));
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO resource_values (provider, service, resource, kind, value_type, value, ts, metadata)
         SELECT e->>'p', e->>'s', e->>'r', e->>'k', e->>'t',
                CASE WHEN jsonb_typeof(e->'v') = 'null' THEN NULL ELSE e->'v' END,
                (e->>'ts')::timestamptz, COALESCE(e->'m', '{}'::jsonb)
         FROM jsonb_array_elements($1::jsonb) AS x(e)
         ON CONFLICT (provider, service, resource) DO UPDATE SET
           kind = EXCLUDED.kind, value_type = EXCLUDED.value_type, value = EXCLUDED.value,
           ts = EXCLUDED.ts, metadata = EXCLUDED.metadata`,
        [JSON.stringify(batch)],
      );
    });
  }

  async remove(provider: string, service?: string, resource?: string): Promise<void> {
    await this.db.query(
      `DELETE FROM resource_values
       WHERE provider = $1 AND ($2::text IS NULL OR service = $2) AND ($3::text IS NULL OR resource = $3)`,
      [provider, service ?? null, service === undefined ? null : (resource ?? null)],
    );
  }
}
