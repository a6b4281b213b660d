/**
 * SenML ingest: a SenML pack (JSON or CBOR, RFC 8428) becomes resource updates through the
 * Gateway's data-first use case on behalf of the caller: existing resources need the SET right,
 * unknown providers/services/resources are created when the policy grants CREATE. Records are
 * judged one by one (non-atomic); an unreadable pack is refused as a whole with its SENML code.
 *
 * Used by `POST /api/v1/ingest/senml` (see senmlIngestRoute) and, through the same record
 * conversion, by the MQTT connector's `senml` topics.
 */
import type { Gateway } from "../../core/gateway.js";
import type { ValueType } from "../../core/model/value-types.js";
import { systemClock, type Clock } from "../../core/ports.js";
import { ANONYMOUS, type Principal } from "../../core/security/principal.js";
import { defaultSenmlDecode } from "../senml-codec.js";
import { recordsToUpdates, type RecordRejection, type SenmlDecode } from "../senml-records.js";

export interface IngestResult {
  /** Records applied to the model (or ignored as older than the stored value). */
  accepted: number;
  /** Records refused, by index in the resolved pack, with the code (SENML_*, SECURITY_*, ACCESS_*, MODEL_*). */
  rejected: RecordRejection[];
}

export interface IngestOptions {
  decode?: SenmlDecode;
  /** "Now" for relative SenML times (RFC 8428 §4.5.3). */
  clock?: Clock;
}

/**
 * Ingests one pack for `caller`. Throws RelaisError (RELAIS_ERR_SENML_*) when the pack itself is
 * invalid (syntax, base fields, version); otherwise reports per-record outcomes.
 */
export async function ingestSenml(
  gateway: Pick<Gateway, "applyUpdates">,
  caller: Principal,
  payload: Uint8Array | string,
  format: "json" | "cbor",
  options: IngestOptions = {},
): Promise<IngestResult> {
  const decode = options.decode ?? defaultSenmlDecode;
  const records = decode(payload, format, (options.clock ?? systemClock).now() / 1000);
  const conv = recordsToUpdates(records);
  const rejected = [...conv.rejected];
  if (conv.updates.length > 0) {
    const r = gateway.applyUpdates(
      caller,
      conv.updates.map((x) => {
        const u = x.update;
        return {
          provider: u.provider,
          service: u.service,
          resource: u.resource,
          value: u.value,
          ...(u.timestamp !== undefined ? { timestamp: u.timestamp } : {}),
          ...(u.metadata !== undefined ? { metadata: u.metadata } : {}),
          ...(u.valueType !== undefined ? { valueType: u.valueType as ValueType } : {}),
        };
      }),
      { atomic: false },
    );
    for (const x of r.rejected) {
      const record = conv.updates[x.index];
      rejected.push({ index: record?.index ?? x.index, code: x.code, message: x.message });
    }
  }
  rejected.sort((a, b) => a.index - b.index);
  return { accepted: records.length - rejected.length, rejected };
}

/**
 * The function `POST /api/v1/ingest/senml` calls (src/adapters/http/routes/ingest.ts SenmlIngest):
 * the caller's `handle` is the core Principal the HTTP layer authenticated.
 */
export function senmlIngestRoute(
  gateway: Pick<Gateway, "applyUpdates">,
  options: IngestOptions = {},
): (input: {
  caller: { handle: unknown };
  body: Uint8Array;
  format: "json" | "cbor";
}) => Promise<IngestResult> {
  return (input) =>
    ingestSenml(
      gateway,
      (input.caller.handle as Principal | null) ?? ANONYMOUS,
      input.body,
      input.format,
      options,
    );
}
