/**
 * Runs the HTTP tests alone without the shared global setup (PostgreSQL/ejabberd services they do
 * not need): `npx vitest run -c test/integration/http-vitest.config.ts`.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["src/adapters/http/**/*.test.ts", "test/integration/http-*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
