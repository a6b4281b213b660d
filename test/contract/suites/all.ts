/** Every store contract, for one backend. */
import type { StoreBackend } from "./backend.js";
import { appStoreContract, userStoreContract } from "./app-user-store.contract.js";
import {
  auditLogContract,
  securityStoreContract,
  valueStoreContract,
} from "./audit-value-security.contract.js";
import { configStoreContract } from "./config-store.contract.js";
import { inboxStoreContract, outboxStoreContract } from "./outbox-inbox-store.contract.js";
import { consumerStoreContract, userAppStoreContract } from "./user-app-consumer-store.contract.js";

export function allStoreContracts(backend: StoreBackend): void {
  configStoreContract(backend);
  appStoreContract(backend);
  userStoreContract(backend);
  userAppStoreContract(backend);
  consumerStoreContract(backend);
  outboxStoreContract(backend);
  inboxStoreContract(backend);
  auditLogContract(backend);
  valueStoreContract(backend);
  securityStoreContract(backend);
}
