/**
 * The Crypto port on node:crypto: scrypt password hashes, random tokens, SHA-256 of tokens.
 * Hash format: `scrypt$N$r$p$<salt b64>$<key b64>` (self-describing, so parameters can change later).
 */
import {
  createHash,
  randomBytes,
  randomUUID,
  scrypt,
  timingSafeEqual,
  type ScryptOptions,
} from "node:crypto";
import type { Crypto } from "../../core/ports.js";

function scryptAsync(
  password: string,
  salt: Buffer,
  keylen: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, options, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

export interface NodeCryptoOptions {
  /** scrypt cost N (power of two). Default 2^15; tests may lower it. */
  cost?: number;
  blockSize?: number;
  parallelization?: number;
}

const KEYLEN = 32;

export class NodeCrypto implements Crypto {
  private readonly N: number;
  private readonly r: number;
  private readonly p: number;

  constructor(options: NodeCryptoOptions = {}) {
    this.N = options.cost ?? 2 ** 15;
    this.r = options.blockSize ?? 8;
    this.p = options.parallelization ?? 1;
  }

  async hashPassword(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await scryptAsync(password, salt, KEYLEN, {
      N: this.N,
      r: this.r,
      p: this.p,
      maxmem: 256 * this.N * this.r,
    });
    return `scrypt$${this.N}$${this.r}$${this.p}$${salt.toString("base64")}$${key.toString("base64")}`;
  }

  async verifyPassword(password: string, hash: string): Promise<boolean> {
    const parts = hash.split("$");
    if (parts.length !== 6 || parts[0] !== "scrypt") return false;
    const [, n, r, p, saltB64, keyB64] = parts;
    const N = Number(n);
    const R = Number(r);
    const P = Number(p);
    if (!Number.isSafeInteger(N) || !Number.isSafeInteger(R) || !Number.isSafeInteger(P)) return false;
    const expected = Buffer.from(keyB64 ?? "", "base64");
    if (expected.length === 0) return false;
    const key = await scryptAsync(password, Buffer.from(saltB64 ?? "", "base64"), expected.length, {
      N,
      r: R,
      p: P,
      maxmem: 256 * N * R,
    });
    return timingSafeEqual(key, expected);
  }

  randomToken(): string {
    return `rls_${randomBytes(32).toString("base64url")}`;
  }

  sha256Hex(text: string): string {
    return createHash("sha256").update(text, "utf8").digest("hex");
  }

  randomId(): string {
    return randomUUID();
  }
}
