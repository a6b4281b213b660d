/** `relais senml` as a child process (CONTRACTS §1): stdout only on success, exit 2 and one coded line on bad input. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeCbor, parseCbor, parseJson, parseXml } from "../senml/index.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const TSX = join(ROOT, "node_modules/.bin/tsx");

function relais(args: string[], input?: Uint8Array | string) {
  const r = spawnSync(TSX, ["src/cli/index.ts", "senml", ...args], { cwd: ROOT, input, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString("utf8") };
}

const PACK = `[{"bn":"meter-12/power/","bt":1.7e9,"n":"active","u":"W","v":312.5},{"n":"reactive","t":-1,"v":2}]`;
const RESOLVED = [
  { n: "meter-12/power/reactive", v: 2, t: 1699999999 },
  { n: "meter-12/power/active", u: "W", v: 312.5, t: 1700000000 },
];

describe("relais senml", () => {
  const dir = mkdtempSync(join(tmpdir(), "relais-senml-"));

  it("resolve prints the resolved records of a JSON file", () => {
    const file = join(dir, "pack.json");
    writeFileSync(file, PACK);
    const r = relais(["resolve", "--now", "1800000000", file]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString("utf8"))).toEqual(RESOLVED);
  });

  it("resolve reads binary CBOR from stdin and applies --now to relative times", () => {
    const r = relais(
      ["resolve", "--now", "1000000000", "-"],
      encodeCbor(parseJson(`[{"n":"a","v":1,"t":-5}]`)),
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString("utf8"))).toEqual([{ n: "a", v: 1, t: 999999995 }]);
  });

  it("invalid input: exit 2, nothing on stdout, one line starting with the code", () => {
    const r = relais(["resolve", "--now", "0"], `[{"n":"bad name","v":1}]`);
    expect(r.status).toBe(2);
    expect(r.stdout.length).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l.length > 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^RELAIS_ERR_SENML_NAME: /);
  });

  it("convert changes representation without resolving (CBOR as raw bytes)", () => {
    const cbor = relais(["convert", "--to", "cbor"], PACK);
    expect(cbor.status).toBe(0);
    expect(parseCbor(new Uint8Array(cbor.stdout))).toEqual(parseJson(PACK));
    const xml = relais(["convert", "--to", "xml", "--in", "cbor"], new Uint8Array(cbor.stdout));
    expect(xml.status).toBe(0);
    expect(parseXml(xml.stdout.toString("utf8"))).toEqual(parseJson(PACK));
  });
});
