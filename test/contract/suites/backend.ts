/** What a contract suite needs from a backend: fresh stores per test over shared storage. */
import type { Clock, SecurityStore, ValueStore } from "../../../src/core/ports.js";
import type { CredentialCipher, FederationStores } from "../../../src/federation/stores.js";
import { SecretBox, generateSecretKey } from "../../../src/adapters/crypto/secret-box.js";

export interface StoreBackend {
  name: string;
  /** Build stores over the backend's storage, emptied first unless keepData. */
  stores(cipher: CredentialCipher, clock: Clock, options?: { keepData?: boolean }): Promise<FederationStores>;
  values(): Promise<ValueStore>;
  security(): Promise<SecurityStore>;
  /** A second, independent connection to the same data (null for in-memory). */
  concurrent?: (cipher: CredentialCipher, clock: Clock) => Promise<FederationStores>;
}

export class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export const newBox = (): SecretBox => SecretBox.fromBase64(generateSecretKey());

/** Users, apps and a user app, the common ground of several suites. */
export async function seedGraph(s: FederationStores) {
  const alice = await s.users.add({ federatedId: "alice@example.org", displayName: "Alice" });
  const local = await s.apps.add({ name: "local", jid: "local@fed.local" });
  const beta = await s.apps.add({ name: "beta", jid: "beta@fed.local", description: "partner" });
  const ua = await s.userApps.set(alice.id, local.id, { username: "alice", password: "pw" });
  return { alice, local, beta, ua };
}
