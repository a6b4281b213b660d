/**
 * SenML ingest (POST /api/v1/ingest/senml's function) against the core Gateway: JSON and CBOR
 * packs, data-first creation under the caller's policy, per-record rejections with codes, and a
 * whole-pack refusal for unreadable input.
 */
import { describe, expect, it } from "vitest";
import type { RelaisError } from "../../src/core/errors.js";
import { ANONYMOUS, principal } from "../../src/core/security/principal.js";
import { emptyPolicy, withGrant } from "../../src/core/security/policy.js";
import { encodePack } from "../../src/senml/index.js";
import { ingestSenml, senmlIngestRoute } from "../../src/connectors/index.js";
import { ADMIN, makeGateway, valueOf } from "./connector-support.js";

describe("SenML ingest", () => {
  it("creates unknown providers/resources for a caller allowed to, from JSON and CBOR", async () => {
    const gateway = await makeGateway();
    const json = JSON.stringify([
      { bn: "ext-meter-1/power/", bt: 1.7e9, n: "active", u: "W", v: 312.5 },
      { n: "label", vs: "kitchen" },
      { n: "on", vb: true, t: 1 },
    ]);
    expect(await ingestSenml(gateway, ADMIN, json, "json")).toEqual({ accepted: 3, rejected: [] });
    expect(valueOf(gateway, "/ext-meter-1/power/active")).toBe(312.5);
    expect(valueOf(gateway, "/ext-meter-1/power/label")).toBe("kitchen");
    const active = gateway.get(ADMIN, "/ext-meter-1/power/active") as { response: Record<string, unknown> };
    expect(active.response).toMatchObject({ timestamp: 1.7e12, unit: "W" });

    const cbor = encodePack([{ n: "ext-meter-1/power/active", v: 400, t: 1.7e9 + 10 }], "cbor");
    const route = senmlIngestRoute(gateway);
    expect(await route({ caller: { handle: ADMIN }, body: cbor, format: "cbor" })).toEqual({
      accepted: 1,
      rejected: [],
    });
    expect(valueOf(gateway, "/ext-meter-1/power/active")).toBe(400);
    await gateway.stop();
  });

  it("judges records one by one: policy, type and name rejections carry codes and indexes", async () => {
    const gateway = await makeGateway();
    await gateway.setPolicy(ADMIN, withGrant(emptyPolicy(), ["ext-*"], "alice", ["SET", "CREATE"]));
    const alice = principal("alice", "AUTHENTICATED");
    await ingestSenml(gateway, alice, JSON.stringify([{ n: "ext-a/s/t", v: 1 }]), "json");
    const result = await ingestSenml(
      gateway,
      alice,
      JSON.stringify([
        { n: "ext-a/s/t", v: 2 },
        { n: "other/s/t", v: 3 },
        { n: "ext-a/s/t", vs: "text" },
        { n: "ext-a/s", v: 4 },
      ]),
      "json",
    );
    expect(result.accepted).toBe(1);
    expect(result.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, "RELAIS_ERR_SECURITY_FORBIDDEN"],
      [2, "RELAIS_ERR_ACCESS_TYPE_MISMATCH"],
      [3, "RELAIS_ERR_SENML_FULL_NAME"],
    ]);
    expect(valueOf(gateway, "/ext-a/s/t")).toBe(2);
    expect(valueOf(gateway, "/other/s/t")).toBeUndefined();

    const anon = await ingestSenml(gateway, ANONYMOUS, JSON.stringify([{ n: "ext-b/s/t", v: 1 }]), "json");
    expect(anon.accepted).toBe(0);
    expect(anon.rejected[0]?.code).toMatch(/^RELAIS_ERR_SECURITY_/);
    await gateway.stop();
  });

  it("refuses an unreadable pack as a whole with its SENML code", async () => {
    const gateway = await makeGateway();
    const code = async (payload: string | Uint8Array, format: "json" | "cbor") => {
      try {
        await ingestSenml(gateway, ADMIN, payload, format);
        return "accepted";
      } catch (e) {
        return (e as RelaisError).code;
      }
    };
    expect(await code("{not json", "json")).toBe("RELAIS_ERR_SENML_SYNTAX");
    expect(await code("[]", "json")).toBe("RELAIS_ERR_SENML_NOT_A_PACK");
    expect(await code(new Uint8Array([0xff, 0x00]), "cbor")).toMatch(/^RELAIS_ERR_SENML_/);
    await gateway.stop();
  });
});
