/**
 * Who is who: registered Apps by JID, federated users, and the local principal each one acts as
 * (through its UserApp credentials). Lookups are cached briefly: a message burst must not cost a
 * password check per message; an admin change is seen within `ttlMs`.
 */
import { RelaisError } from "../core/errors.js";
import type { Clock } from "../core/ports.js";
import type { Principal } from "../core/security/principal.js";
import type { LocalSystem } from "./local-system.js";
import type { App, AppStore, UserAppStore, UserStore } from "./stores.js";

export interface Identity {
  userId: number;
  federatedId: string;
  principal: Principal;
}

interface Entry<T> {
  /** A promise, so that concurrent lookups of one key share one query (a burst of messages). */
  value: Promise<T>;
  expires: number;
}

export interface DirectoryDeps {
  apps: AppStore;
  users: UserStore;
  userApps: UserAppStore;
  local: LocalSystem;
  clock: Clock;
  /** This gateway's own bare JID: the App (if registered) that stands for the local system. */
  ownJid: string;
  ttlMs?: number;
}

export class Directory {
  private readonly apps = new Map<string, Entry<App | null>>();
  private readonly appsById = new Map<string, Entry<App | null>>();
  private readonly identities = new Map<string, Entry<Identity>>();
  private readonly ttlMs: number;

  constructor(private readonly deps: DirectoryDeps) {
    this.ttlMs = deps.ttlMs ?? 5_000;
  }

  invalidate(): void {
    this.apps.clear();
    this.appsById.clear();
    this.identities.clear();
  }

  private fresh<T>(e: Entry<T> | undefined): e is Entry<T> {
    return e !== undefined && e.expires > this.deps.clock.now();
  }

  private cached<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const hit = map.get(key);
    if (this.fresh(hit)) return hit.value;
    const value = load();
    const entry = { value, expires: this.deps.clock.now() + this.ttlMs };
    map.set(key, entry);
    // A failed lookup is not cached.
    value.catch(() => {
      if (map.get(key) === entry) map.delete(key);
    });
    return value;
  }

  /** The registered App with this bare JID, or null. */
  appByJid(jid: string): Promise<App | null> {
    const key = jid.toLowerCase();
    return this.cached(this.apps, key, () => this.deps.apps.getByJid(key));
  }

  /** The registered App with this id, or null. */
  appById(id: number): Promise<App | null> {
    return this.cached(this.appsById, String(id), () => this.deps.apps.get(id));
  }

  /** The identity of a UserApp (a consumer's user on this gateway). */
  identityOfUserApp(userAppId: number): Promise<Identity> {
    return this.cached(this.identities, `ua:${userAppId}`, () => this.loadUserAppIdentity(userAppId));
  }

  private async loadUserAppIdentity(userAppId: number): Promise<Identity> {
    const ua = await this.deps.userApps.get(userAppId);
    if (!ua) throw new RelaisError("RELAIS_ERR_FED_UNKNOWN_USER", `No user app ${userAppId}`, { userAppId });
    const user = await this.deps.users.get(ua.userId);
    if (!user)
      throw new RelaisError("RELAIS_ERR_FED_UNKNOWN_USER", `No user ${ua.userId}`, { userId: ua.userId });
    const principal = await this.deps.local.principalFor(await this.deps.userApps.credentials(ua.id));
    return { userId: user.id, federatedId: user.federatedId, principal };
  }

  /**
   * The identity a message from `app` is applied under: the `relais` element's user when present,
   * else the App's default user (CONTRACTS.md §4). The user's credentials are its UserApp for the
   * local system (the App registered with this gateway's own JID), or, when there is none, its
   * UserApp for the sending App. RELAIS_ERR_FED_UNKNOWN_USER otherwise.
   */
  inboundIdentity(app: App, federatedUser: string | undefined): Promise<Identity> {
    return this.cached(this.identities, `in:${app.id}:${federatedUser ?? ""}`, () =>
      this.loadInboundIdentity(app, federatedUser),
    );
  }

  private async loadInboundIdentity(app: App, federatedUser: string | undefined): Promise<Identity> {
    let user;
    if (federatedUser !== undefined && federatedUser !== "") {
      user = await this.deps.users.getByFederatedId(federatedUser);
    } else if (app.defaultUserId !== null) {
      user = await this.deps.users.get(app.defaultUserId);
    }
    if (!user) {
      throw new RelaisError(
        "RELAIS_ERR_FED_UNKNOWN_USER",
        federatedUser ? `Unknown federated user ${federatedUser}` : `App ${app.jid} has no default user`,
        { app: app.jid, ...(federatedUser ? { user: federatedUser } : {}) },
      );
    }
    const localApp = await this.appByJid(this.deps.ownJid);
    const ua =
      (localApp ? await this.deps.userApps.find(user.id, localApp.id) : null) ??
      (await this.deps.userApps.find(user.id, app.id));
    if (!ua) {
      throw new RelaisError(
        "RELAIS_ERR_FED_UNKNOWN_USER",
        `User ${user.federatedId} has no credentials on this gateway`,
        { user: user.federatedId },
      );
    }
    const principal = await this.deps.local.principalFor(await this.deps.userApps.credentials(ua.id));
    return { userId: user.id, federatedId: user.federatedId, principal };
  }
}
