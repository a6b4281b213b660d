import { describe, expect, it } from "vitest";
import { NodeCrypto } from "./node-crypto.js";

describe("NodeCrypto", () => {
  const c = new NodeCrypto({ cost: 1024 });
  it("hashes and verifies passwords with a random salt", async () => {
    const h1 = await c.hashPassword("correct horse");
    const h2 = await c.hashPassword("correct horse");
    expect(h1).not.toBe(h2);
    expect(h1.startsWith("scrypt$1024$")).toBe(true);
    expect(await c.verifyPassword("correct horse", h1)).toBe(true);
    expect(await c.verifyPassword("wrong", h1)).toBe(false);
    expect(await c.verifyPassword("correct horse", "garbage")).toBe(false);
  });
  it("makes distinct tokens and hashes them with SHA-256", () => {
    expect(c.randomToken()).not.toBe(c.randomToken());
    expect(c.sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(c.randomId()).not.toBe(c.randomId());
  });
});
