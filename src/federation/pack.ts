/**
 * Packing federated records into SenML packs for the wire: compact (base name per
 * provider/service run, one base time per pack, times as offsets: RFC 8428 §4.1, §4.5.3) and split
 * so that every stanza stays under the configured limit (CONTRACTS.md §4, default 64 KiB).
 */
import { utf8Length } from "../senml/json.js";
import type { SenmlRecord } from "../senml/types.js";
import { setValue, type FederatedRecord } from "./records.js";

export const DEFAULT_STANZA_LIMIT = 64 * 1024;

/** Room kept for the stanza around the body: <message>, receipt request, origin-id, relais element. */
export const STANZA_ENVELOPE_BYTES = 1024;

export interface PackedMessage {
  /** The SenML JSON pack. */
  body: string;
  records: number;
  /** True when one record alone is larger than the limit (sent anyway: the Outbox dead-letters it). */
  oversize: boolean;
}

/** Size of a string once written as XML text content (ltx escapes & < > only). */
export function xmlTextBytes(s: string): number {
  let extra = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 38) extra += 4;
    else if (c === 60 || c === 62) extra += 3;
  }
  return utf8Length(s) + extra;
}

function prefixOf(r: FederatedRecord): string {
  return `${r.provider}/${r.service}/`;
}

/**
 * Packs records (in the given order, grouped by provider/service for shorter base names) into as
 * few bodies as fit under `stanzaLimit` bytes each, envelope included.
 */
export function packRecords(
  records: readonly FederatedRecord[],
  stanzaLimit = DEFAULT_STANZA_LIMIT,
): PackedMessage[] {
  const budget = Math.max(256, stanzaLimit - STANZA_ENVELOPE_BYTES);
  // Each record's base name once (a comparator would build it at every comparison).
  const sorted = records.map((r) => ({ r, p: prefixOf(r) }));
  sorted.sort((a, b) => (a.p < b.p ? -1 : a.p > b.p ? 1 : a.r.timestamp - b.r.timestamp));
  const out: PackedMessage[] = [];
  let parts: string[] = [];
  let size = 2; // "[" and "]"
  let bn: string | null = null;
  let bt = 0;

  const close = (): void => {
    if (parts.length === 0) return;
    const body = `[${parts.join(",")}]`;
    out.push({ body, records: parts.length, oversize: size > budget });
    parts = [];
    size = 2;
    bn = null;
  };

  const encode = (r: FederatedRecord, p: string, first: boolean, withBn: boolean): string => {
    const rec: SenmlRecord = {};
    if (withBn) rec.bn = p;
    if (first) rec.bt = r.timestamp / 1000;
    rec.n = r.resource;
    if (r.unit !== undefined) rec.u = r.unit;
    setValue(rec, r.value);
    const dt = first ? 0 : (r.timestamp - bt) / 1000;
    if (dt !== 0) rec.t = dt;
    return JSON.stringify(rec);
  };

  for (const { r, p } of sorted) {
    const first = parts.length === 0;
    let text = encode(r, p, first, p !== bn);
    let add = xmlTextBytes(text) + (first ? 0 : 1);
    if (!first && size + add > budget) {
      close();
      text = encode(r, p, true, true);
      add = xmlTextBytes(text);
    }
    if (parts.length === 0) bt = r.timestamp;
    parts.push(text);
    size += add;
    bn = p;
  }
  close();
  return out;
}
