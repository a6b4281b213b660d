/** Store contracts on the in-memory implementations. */
import {
  MemorySecurityStore,
  MemoryTables,
  MemoryValueStore,
  createMemoryStores,
} from "../../src/federation/memory-stores.js";
import { allStoreContracts } from "./suites/all.js";

let tables = new MemoryTables();

allStoreContracts({
  name: "memory",
  async stores(cipher, clock, options) {
    if (!options?.keepData) tables = new MemoryTables();
    return createMemoryStores(cipher, clock, tables);
  },
  async values() {
    return new MemoryValueStore();
  },
  async security() {
    return new MemorySecurityStore();
  },
});
