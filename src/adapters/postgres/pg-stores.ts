/** Build every PostgreSQL-backed store over one Database. */
import type { Clock } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { CredentialCipher, FederationStores } from "../../federation/stores.js";
import { PgAppStore } from "./app-store.js";
import { PgAuditLog } from "./audit-log.js";
import { PgConfigStore } from "./config-store.js";
import { PgConsumerStore } from "./consumer-store.js";
import type { Database } from "./database.js";
import { PgInboxStore } from "./inbox-store.js";
import { PgOutboxStore } from "./outbox-store.js";
import { PgSecurityStore } from "./security-store.js";
import { PgUserAppStore } from "./user-app-store.js";
import { PgUserStore } from "./user-store.js";
import { PgValueStore } from "./value-store.js";

export interface PgStores extends FederationStores {
  values: PgValueStore;
  security: PgSecurityStore;
}

export function createPgStores(db: Database, cipher: CredentialCipher, clock: Clock = systemClock): PgStores {
  return {
    config: new PgConfigStore(db, clock),
    apps: new PgAppStore(db, clock),
    users: new PgUserStore(db, clock),
    userApps: new PgUserAppStore(db, cipher, clock),
    consumers: new PgConsumerStore(db, clock),
    outbox: new PgOutboxStore(db, clock),
    inbox: new PgInboxStore(db, clock),
    audit: new PgAuditLog(db, clock),
    values: new PgValueStore(db),
    security: new PgSecurityStore(db),
  };
}
