/**
 * Assembly helpers for tests, benchmarks and demos: register a partner App with a default user that
 * may create and SET data under a provider pattern (CONTRACTS.md §1 demo), and a consumer that
 * sends a selection to a peer. They go through the same stores and Gateway methods an operator uses.
 */
import type { Gateway } from "../../core/gateway.js";
import { RelaisError } from "../../core/errors.js";
import { withGrant, type Method } from "../../core/security/policy.js";
import { principal, type Principal } from "../../core/security/principal.js";
import type { IdMapping } from "../id-mapping.js";
import type {
  App,
  Consumer,
  CredentialCipher,
  Credentials,
  FederationStores,
  SealedCredentials,
} from "../stores.js";

/** The OWNER principal fixtures act as (trusted, in-process). */
export const FIXTURE_OWNER: Principal = principal("relais-fixture", "OWNER");

export interface Side {
  gateway: Gateway;
  stores: FederationStores;
  /** This gateway's own bare JID. */
  jid: string;
}

async function ensureAccount(gateway: Gateway, name: string): Promise<void> {
  const existing = await gateway.listAccounts(FIXTURE_OWNER);
  if (!existing.some((a) => a.name === name)) {
    await gateway.createAccount(FIXTURE_OWNER, { name, level: "AUTHENTICATED" });
  }
}

async function ensureApp(stores: FederationStores, name: string, jid: string): Promise<App> {
  return (await stores.apps.getByJid(jid)) ?? stores.apps.add({ name, jid });
}

async function ensureUser(stores: FederationStores, federatedId: string) {
  return (await stores.users.getByFederatedId(federatedId)) ?? stores.users.add({ federatedId });
}

/**
 * On `receiver`: register `senderJid` as an App whose default user (`federatedUser`) acts as the
 * local account `account`, granted `methods` (default CREATE and SET) under `providerPattern`.
 */
export async function registerPartner(
  receiver: Side,
  opts: {
    senderJid: string;
    appName?: string;
    federatedUser: string;
    account: string;
    providerPattern?: string;
    methods?: Method[];
  },
): Promise<{ app: App; account: string }> {
  const { gateway, stores } = receiver;
  await ensureAccount(gateway, opts.account);
  const policy = withGrant(
    gateway.getPolicy(FIXTURE_OWNER),
    [opts.providerPattern ?? "ext-*"],
    opts.account,
    opts.methods ?? ["CREATE", "SET"],
  );
  await gateway.setPolicy(FIXTURE_OWNER, policy);
  const user = await ensureUser(stores, opts.federatedUser);
  let app = await ensureApp(stores, opts.appName ?? opts.senderJid.split("@")[0]!, opts.senderJid);
  app = await stores.apps.setDefaultUser(app.id, user.id);
  const creds: Credentials = { account: opts.account };
  await stores.userApps.set(user.id, app.id, creds);
  return { app, account: opts.account };
}

/**
 * On `source`: a consumer sending what `selector` selects (read as the local account `account`,
 * for the federated user `federatedUser`) to `targetJid`, renamed with `mapping`.
 */
export async function addConsumer(
  source: Side,
  opts: {
    targetJid: string;
    targetName?: string;
    federatedUser: string;
    account: string;
    selector: string;
    mapping?: IdMapping;
    realtime?: boolean;
    schedule?: string | null;
  },
): Promise<Consumer> {
  const { gateway, stores } = source;
  await ensureAccount(gateway, opts.account);
  const self = await ensureApp(stores, "self", source.jid);
  const target = await ensureApp(stores, opts.targetName ?? opts.targetJid.split("@")[0]!, opts.targetJid);
  const user = await ensureUser(stores, opts.federatedUser);
  const ua = await stores.userApps.set(user.id, self.id, { account: opts.account });
  return stores.consumers.add({
    userAppId: ua.id,
    consumerAppId: target.id,
    selector: opts.selector,
    mapping: opts.mapping ?? null,
    realtime: opts.realtime ?? false,
    schedule: opts.schedule ?? null,
  });
}

/** A CredentialCipher for tests only: NOT encryption (JSON bytes), but bound to its row like the real one. */
export class PlainTestCipher implements CredentialCipher {
  readonly keyId = "plain-test";
  seal(credentials: Credentials, aad: string): SealedCredentials {
    return { ciphertext: new TextEncoder().encode(JSON.stringify({ aad, credentials })), keyId: this.keyId };
  }
  open(sealed: SealedCredentials, aad: string): Credentials {
    const o = JSON.parse(new TextDecoder().decode(sealed.ciphertext)) as {
      aad: string;
      credentials: Credentials;
    };
    if (o.aad !== aad) throw new RelaisError("RELAIS_ERR_SECRET_KEY_WRONG");
    return o.credentials;
  }
}
