/**
 * Adapters from the storage ports (src/federation/stores.ts: ConfigStore, UserAppStore) to the
 * connector ports. Typed structurally so the connectors depend on the roles only.
 */
import type { ConnectorConfigSource, Credentials, CredentialsResolver } from "./ports.js";

/** Key prefix of connector documents in the `config` table: `connector.<name>`. */
export const CONNECTOR_KEY_PREFIX = "connector.";

/**
 * Connector documents from the `config` table: every entry whose key starts with `connector.`.
 * A document without a name takes the key's suffix as its name.
 */
export function configStoreSource(
  store: { list(): Promise<{ key: string; value: unknown }[]> },
  prefix = CONNECTOR_KEY_PREFIX,
): ConnectorConfigSource {
  return {
    async list() {
      const entries = await store.list();
      return entries
        .filter((e) => e.key.startsWith(prefix))
        .sort((a, b) => a.key.localeCompare(b.key))
        .map((e) =>
          e.value !== null && typeof e.value === "object" && !Array.isArray(e.value) && !("name" in e.value)
            ? { ...e.value, name: e.key.slice(prefix.length) }
            : e.value,
        );
    },
  };
}

/**
 * Credentials references `userapp:<id>` (or a bare id) → the decrypted UserApp credentials.
 * Accepted member names: username|user|login, password, token|accessToken|bearer, apiKey|key.
 */
export function userAppCredentials(store: {
  credentials(id: number): Promise<Record<string, unknown> | null>;
}): CredentialsResolver {
  return {
    async resolve(ref) {
      const m = /^(?:userapp:)?(\d+)$/.exec(ref);
      if (!m) return null;
      let raw: Record<string, unknown> | null;
      try {
        raw = await store.credentials(Number(m[1]));
      } catch (e) {
        if ((e as { code?: string }).code === "RELAIS_ERR_DB_NOT_FOUND") return null;
        throw e;
      }
      return raw ? toCredentials(raw) : null;
    },
  };
}

export function toCredentials(raw: Record<string, unknown>): Credentials {
  const pick = (...names: string[]): string | undefined => {
    for (const n of names) if (typeof raw[n] === "string") return raw[n];
    return undefined;
  };
  const c: Credentials = {};
  const username = pick("username", "user", "login");
  const password = pick("password");
  const token = pick("token", "accessToken", "bearer");
  const apiKey = pick("apiKey", "key");
  if (username !== undefined) c.username = username;
  if (password !== undefined) c.password = password;
  if (token !== undefined) c.token = token;
  if (apiKey !== undefined) c.apiKey = apiKey;
  return c;
}
