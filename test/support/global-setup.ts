/**
 * vitest global setup: the real services integration tests need, started once per run.
 * Each service module exports setup(project) and teardown(); nothing skips silently.
 */
import type { TestProject } from "vitest/node";
import { postgresService } from "./postgres.js";
import { ejabberdService } from "./ejabberd.js";

type Service = { setup(project: TestProject): Promise<void>; teardown(): Promise<void> };

const services: Service[] = [postgresService, ejabberdService];

export async function setup(project: TestProject): Promise<void> {
  for (const s of services) await s.setup(project);
}

export async function teardown(): Promise<void> {
  for (const s of [...services].reverse()) await s.teardown();
}
