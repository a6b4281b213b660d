/**
 * `npm run bench`: runs every benchmark module under bench/ in one process, one after the other.
 * Each module exports run(); it measures its own baseline in the same run and prints ratios.
 * `npm run bench -- senml core` runs only the named ones.
 */
const ALL = ["senml", "core", "http", "connectors", "xmpp-raw", "federation"];

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = wanted.length > 0 ? wanted : ALL;
const failed: string[] = [];
for (const name of names) {
  console.log(`\n=== bench/${name}.ts (${new Date().toISOString()})`);
  try {
    const mod = (await import(`./${name}.js`)) as { run?: () => Promise<unknown> };
    if (typeof mod.run !== "function") throw new Error(`bench/${name}.ts exports no run()`);
    await mod.run();
  } catch (e) {
    failed.push(name);
    console.error(`bench/${name} failed:`, e);
  }
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
