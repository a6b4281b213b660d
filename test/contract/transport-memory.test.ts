import { MemoryHub, type MemoryTransport } from "../../src/federation/memory-transport.js";
import { transportContract } from "./transport.contract.js";

let n = 0;
transportContract("MemoryTransport", () => {
  let hub = new MemoryHub();
  let live: MemoryTransport[] = [];
  return {
    quietMs: 50,
    async pair() {
      hub = new MemoryHub();
      const a = hub.transport(`a${++n}@fed.local`);
      const b = hub.transport(`b${n}@fed.local`);
      live.push(a, b);
      await a.start();
      await b.start();
      return { a, b };
    },
    unknownJid: () => `nobody${n}@fed.local`,
    async inject(to, body) {
      const from = `plain${n}@fed.local`;
      hub.inject({ from, to, body });
      return { from };
    },
    async restart(t) {
      await t.start();
    },
    async cleanup() {
      for (const t of live) await t.stop();
      live = [];
    },
  };
});
