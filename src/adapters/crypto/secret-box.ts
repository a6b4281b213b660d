/**
 * UserApp credentials at rest: AES-256-GCM (node:crypto) with a 96-bit random nonce and the row
 * as associated data, so a ciphertext copied to another row does not open (RELIABILITY.md S8).
 *
 * Sealed layout: version byte (1) ‖ nonce (12) ‖ tag (16) ‖ ciphertext. The key id (a hash of
 * the key, never the key) is stored beside it: a wrong key is recognised before any decryption.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RelaisError } from "../../core/errors.js";
import type { Logger } from "../../core/ports.js";
import type { CredentialCipher, Credentials, SealedCredentials } from "../../federation/stores.js";

const VERSION = 1;
const NONCE = 12;
const TAG = 16;

/** Parse a base64 key of exactly 32 bytes; RELAIS_ERR_SECRET_KEY_INVALID otherwise. */
export function parseSecretKey(base64: string): Buffer {
  const trimmed = base64.trim();
  const key = Buffer.from(trimmed, "base64");
  if (key.length !== 32 || key.toString("base64").replace(/=+$/, "") !== trimmed.replace(/=+$/, ""))
    throw new RelaisError("RELAIS_ERR_SECRET_KEY_INVALID");
  return key;
}

export function generateSecretKey(): string {
  return randomBytes(32).toString("base64");
}

/** A short public identifier of a key (never reveals the key). */
export function keyIdOf(key: Uint8Array): string {
  return createHash("sha256").update("relais-secret-key-id\0").update(key).digest("hex").slice(0, 16);
}

export class SecretBox implements CredentialCipher {
  readonly keyId: string;
  private readonly key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RelaisError("RELAIS_ERR_SECRET_KEY_INVALID");
    this.key = Buffer.from(key);
    this.keyId = keyIdOf(this.key);
  }

  static fromBase64(base64: string): SecretBox {
    return new SecretBox(parseSecretKey(base64));
  }

  seal(credentials: Credentials, aad: string): SealedCredentials {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce, { authTagLength: TAG });
    cipher.setAAD(Buffer.from(aad, "utf8"));
    const body = Buffer.concat([cipher.update(JSON.stringify(credentials), "utf8"), cipher.final()]);
    const out = Buffer.concat([Buffer.of(VERSION), nonce, cipher.getAuthTag(), body]);
    return { ciphertext: out, keyId: this.keyId };
  }

  open(sealed: SealedCredentials, aad: string): Credentials {
    if (sealed.keyId !== this.keyId)
      throw new RelaisError(
        "RELAIS_ERR_SECRET_KEY_WRONG",
        `credentials were encrypted with key ${sealed.keyId}, the configured key is ${this.keyId}`,
        { storedKeyId: sealed.keyId, keyId: this.keyId },
      );
    const buf = Buffer.from(sealed.ciphertext);
    if (buf.length < 1 + NONCE + TAG || buf[0] !== VERSION)
      throw new RelaisError("RELAIS_ERR_SECRET_KEY_WRONG", "stored credentials are not in a known format");
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, buf.subarray(1, 1 + NONCE), {
        authTagLength: TAG,
      });
      decipher.setAAD(Buffer.from(aad, "utf8"));
      decipher.setAuthTag(buf.subarray(1 + NONCE, 1 + NONCE + TAG));
      const plain = Buffer.concat([decipher.update(buf.subarray(1 + NONCE + TAG)), decipher.final()]);
      return JSON.parse(plain.toString("utf8")) as Credentials;
    } catch (e) {
      // Authentication failed: another key with a colliding id, a tampered or moved ciphertext.
      throw new RelaisError(
        "RELAIS_ERR_SECRET_KEY_WRONG",
        "stored credentials do not open with this key for this row",
        {},
        { cause: e },
      );
    }
  }
}

export const KEY_FILE_NAME = "secret.key";

export interface LoadedKey {
  box: SecretBox;
  source: "env" | "file" | "generated";
  /** The key file, in embedded mode. */
  path: string | null;
}

/**
 * The credential key from the boot configuration (CONTRACTS.md §2): RELAIS_SECRET_KEY when set;
 * required with a server database; in embedded mode a key file in the data dir, created (0600)
 * with a warning when missing.
 */
export function loadSecretKey(
  config: { secretKey: string | null; databaseUrl: string | null; dataDir: string },
  logger: Logger,
): LoadedKey {
  if (config.secretKey !== null)
    return { box: SecretBox.fromBase64(config.secretKey), source: "env", path: null };
  if (config.databaseUrl !== null) throw new RelaisError("RELAIS_ERR_SECRET_KEY_MISSING");
  const path = join(config.dataDir, KEY_FILE_NAME);
  let existing: string | null = null;
  try {
    existing = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT")
      throw new RelaisError("RELAIS_ERR_SECRET_KEY_FILE", `cannot read ${path}`, { path }, { cause: e });
  }
  if (existing !== null) {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0)
      logger.warn({ path, mode: mode.toString(8) }, "the key file is readable by other users; chmod 600 it");
    return { box: SecretBox.fromBase64(existing), source: "file", path };
  }
  const generated = generateSecretKey();
  try {
    mkdirSync(config.dataDir, { recursive: true });
    // wx: never overwrite a key another process just wrote.
    writeFileSync(path, `${generated}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return loadSecretKey(config, logger);
    throw new RelaisError("RELAIS_ERR_SECRET_KEY_FILE", `cannot write ${path}`, { path }, { cause: e });
  }
  logger.warn(
    { path },
    "RELAIS_SECRET_KEY is not set: generated a credential key in the data directory; back it up or set RELAIS_SECRET_KEY",
  );
  return { box: SecretBox.fromBase64(generated), source: "generated", path };
}

/** Replace the key file (after `secrets rotate` committed); atomic enough: write then rename. */
export function writeKeyFile(path: string, base64: string): void {
  const tmp = `${path}.new`;
  writeFileSync(tmp, `${base64}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSyncSafe(tmp, path);
}

function renameSyncSafe(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    throw new RelaisError("RELAIS_ERR_SECRET_KEY_FILE", `cannot write ${to}`, { path: to }, { cause: e });
  }
}
