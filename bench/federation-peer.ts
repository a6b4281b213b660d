/**
 * The receiving gateway of bench/federation.ts in a process of its own (a gateway per process is
 * how Relais runs): a Gateway + FederationNode on its database, accepting A's data under ext-*.
 * Spec in FED_PEER (JSON: name, jid, password, service, dbUrl, stanzaLimit, senderJid); prints
 * READY once online; SIGTERM stops it cleanly.
 */
import { registerPartner } from "../src/federation/testing/fixtures.js";
import { GatewayUnderTest } from "../test/integration/federation-harness.js";

const spec = JSON.parse(process.env.FED_PEER ?? "{}") as {
  name: string;
  jid: string;
  password: string;
  service: string;
  dbUrl: string;
  stanzaLimit: number;
  senderJid: string;
};
// No event log: the bench counts B's progress in its database, not through the fault checker.
const b = new GatewayUnderTest({ ...spec, options: { stanzaLimit: spec.stanzaLimit }, recordEvents: false });
await b.start();
await registerPartner(
  { gateway: b.i.gateway, stores: b.i.stores, jid: b.jid },
  { senderJid: spec.senderJid, federatedUser: "alice@a", account: "partner-a" },
);
await b.i.node.refresh();
process.stdout.write("READY\n");
process.on("SIGTERM", () => {
  void b.stop().finally(() => process.exit(0));
});
