import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger, type Logger } from "../../core/ports.js";
import { userAppAad } from "../../federation/stores.js";
import { SecretBox, generateSecretKey, loadSecretKey, parseSecretKey } from "./secret-box.js";

const recorder = (): { logger: Logger; lines: string[] } => {
  const lines: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (o, m) => lines.push(`${m ?? ""} ${JSON.stringify(o)}`),
    error: () => undefined,
    child: () => logger,
  };
  return { logger, lines };
};

describe("SecretBox (AES-256-GCM)", () => {
  const box = SecretBox.fromBase64(generateSecretKey());
  const creds = { username: "alice", password: "CANARY-secret" };

  it("round-trips credentials; the ciphertext holds no plaintext and differs each time", () => {
    const aad = userAppAad(1, 2, 3);
    const a = box.seal(creds, aad);
    const b = box.seal(creds, aad);
    expect(box.open(a, aad)).toEqual(creds);
    expect(Buffer.from(a.ciphertext).toString("latin1")).not.toContain("CANARY");
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(a.keyId).toBe(box.keyId);
    expect(a.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it("binds the ciphertext to its row: another id, user or app does not open it", () => {
    const sealed = box.seal(creds, userAppAad(1, 2, 3));
    for (const aad of [userAppAad(4, 2, 3), userAppAad(1, 5, 3), userAppAad(1, 2, 6)])
      expect(() => box.open(sealed, aad)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_SECRET_KEY_WRONG" }) as Error,
      );
  });

  it("refuses another key and a tampered ciphertext with RELAIS_ERR_SECRET_KEY_WRONG", () => {
    const aad = userAppAad(1, 2, 3);
    const sealed = box.seal(creds, aad);
    const other = SecretBox.fromBase64(generateSecretKey());
    expect(() => other.open(sealed, aad)).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_SECRET_KEY_WRONG" }) as Error,
    );
    // Same key id but a flipped byte: authentication fails.
    const bad = Buffer.from(sealed.ciphertext);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    expect(() => box.open({ ciphertext: bad, keyId: box.keyId }, aad)).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_SECRET_KEY_WRONG" }) as Error,
    );
  });

  it("accepts only 32 bytes of base64", () => {
    expect(parseSecretKey(generateSecretKey())).toHaveLength(32);
    for (const bad of [
      "",
      "abc",
      Buffer.alloc(16).toString("base64"),
      Buffer.alloc(33).toString("base64"),
      "!!!!",
    ])
      expect(() => parseSecretKey(bad)).toThrow(
        expect.objectContaining({ code: "RELAIS_ERR_SECRET_KEY_INVALID" }) as Error,
      );
  });
});

describe("loadSecretKey", () => {
  it("uses RELAIS_SECRET_KEY when set", () => {
    const key = generateSecretKey();
    const k = loadSecretKey(
      { secretKey: key, databaseUrl: "postgres://h/db", dataDir: "/nonexistent" },
      silentLogger,
    );
    expect(k.source).toBe("env");
    expect(k.box.keyId).toBe(SecretBox.fromBase64(key).keyId);
  });

  it("requires a key with a server database", () => {
    expect(() =>
      loadSecretKey({ secretKey: null, databaseUrl: "postgres://h/db", dataDir: "." }, silentLogger),
    ).toThrow(expect.objectContaining({ code: "RELAIS_ERR_SECRET_KEY_MISSING" }) as Error);
  });

  it("embedded without a key: creates a 0600 key file once, warns, then reuses it", () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "relais-key-")), "data");
    const { logger, lines } = recorder();
    const first = loadSecretKey({ secretKey: null, databaseUrl: null, dataDir }, logger);
    expect(first.source).toBe("generated");
    expect(statSync(first.path!).mode & 0o777).toBe(0o600);
    expect(lines).toHaveLength(1);
    const keyText = readFileSync(first.path!, "utf8").trim();
    expect(lines.join("\n")).not.toContain(keyText);
    const second = loadSecretKey({ secretKey: null, databaseUrl: null, dataDir }, logger);
    expect(second.source).toBe("file");
    expect(second.box.keyId).toBe(first.box.keyId);
    expect(lines).toHaveLength(1);
  });

  it("refuses a corrupt key file", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "relais-key-"));
    writeFileSync(join(dataDir, "secret.key"), "not a key\n", { mode: 0o600 });
    expect(() => loadSecretKey({ secretKey: null, databaseUrl: null, dataDir }, silentLogger)).toThrow(
      expect.objectContaining({ code: "RELAIS_ERR_SECRET_KEY_INVALID" }) as Error,
    );
  });
});
