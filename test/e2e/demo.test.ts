/**
 * End to end: the `relais demo` process (bin/relais.js: the build when present, else the sources),
 * driven over REST, by an independent XMPP sender (ejabberd's HTTP API) and by a real browser
 * (Debian's chromium through playwright-core) on the console.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { EjabberdApi } from "../support/ejabberd.js";

const BIN = new URL("../../bin/relais.js", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "e2e-admin-token-0123456789";

interface Demo {
  proc: ChildProcess;
  alpha: string;
  beta: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startDemo(env: Record<string, string>): Promise<Demo> {
  const dataDir = mkdtempSync(join(tmpdir(), "relais-e2e-"));
  dirs.push(dataDir);
  const proc = spawn(process.execPath, [BIN, "demo"], {
    env: {
      ...process.env,
      RELAIS_DATA_DIR: dataDir,
      RELAIS_HTTP_PORT: "0",
      RELAIS_ADMIN_TOKEN: ADMIN,
      RELAIS_LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.on("exit", (code) => {
      resolve(code);
    }),
  );
  const deadline = Date.now() + 90_000;
  for (;;) {
    const a = /^\s+alpha\s+(http:\/\/\S+?)\/\s/m.exec(out);
    const b = /^\s+beta\s+(http:\/\/\S+?)\/\s/m.exec(out);
    if (a && b) return { proc, alpha: a[1]!, beta: b[1]!, stdout: () => out, stderr: () => err, exited };
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(
        `demo did not start (exit ${proc.exitCode})\nstdout:\n${out}\nstderr:\n${err.slice(-3000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function getJson(url: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.json() };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

const valueAt = async (base: string, uri: string) => {
  const [p, s, r] = uri.split("/");
  const { status, body } = await getJson(`${base}/sensinact/providers/${p}/services/${s}/resources/${r}/GET`);
  return status === 200 ? (body.response as { value: unknown; timestamp: number }) : undefined;
};

/** The same value with the same timestamp on the source and, renamed, on the peer. */
async function expectMirrored(src: string, srcUri: string, dst: string, dstUri: string): Promise<void> {
  await until(`${dstUri} to mirror ${srcUri}`, async () => {
    const a = await valueAt(src, srcUri);
    const b = await valueAt(dst, dstUri);
    if (!a || !b) return undefined;
    return a.timestamp === b.timestamp && a.value === b.value ? true : undefined;
  });
}

async function stopDemo(demo: Demo): Promise<void> {
  const t0 = Date.now();
  demo.proc.kill("SIGTERM");
  const code = await demo.exited;
  expect(code, demo.stderr().slice(-2000)).toBe(0);
  expect(Date.now() - t0).toBeLessThan(10_000);
}

describe("relais demo (in-process transport)", () => {
  it("moves data both ways, shows it in the console, and stops on SIGTERM", async () => {
    const demo = await startDemo({});
    try {
      expect(demo.stdout()).toMatch(/in-process transport/);
      await expectMirrored(demo.alpha, "meter-1/power/active", demo.beta, "ext-alpha-meter-1/power/active");
      await expectMirrored(demo.beta, "meter-7/power/active", demo.alpha, "ext-beta-meter-7/power/active");

      // the Outbox rows behind it were confirmed by the peer's receipts
      const outbox = await getJson(`${demo.alpha}/api/v1/outbox?status=delivered`, ADMIN);
      expect(outbox.status).toBe(200);
      expect(JSON.stringify(outbox.body)).toMatch(/"delivered"/);
      expect((await getJson(`${demo.alpha}/api/v1/outbox`)).status).toBe(401);

      // the demo pointed at an MQTT topic: a connector document through the admin API, applied at
      // once; a reading published on the real Mosquitto lands on alpha and, being a meter-*, on beta
      const topic = `relais-e2e-${process.pid}`;
      const doc = {
        kind: "mqtt",
        name: "plant",
        options: { url: "mqtt://127.0.0.1:1883", allowHosts: ["127.0.0.1"] },
        mapping: [
          {
            topic: `${topic}/+/power`,
            format: "plain",
            target: "meter-{1}/power/active",
            type: "float",
            unit: "W",
          },
        ],
      };
      const bad = await fetch(`${demo.alpha}/api/v1/config/connector.plant`, {
        method: "PUT",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ value: { ...doc, kind: "telepathy" } }),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error?: { code?: string }; code?: string }).error?.code ?? "").toMatch(
        /CONNECTOR/,
      );
      const put = await fetch(`${demo.alpha}/api/v1/config/connector.plant`, {
        method: "PUT",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ value: doc }),
      });
      expect(put.status, await put.clone().text()).toBe(200);
      const { connectAsync } = await import("mqtt");
      const mq = await connectAsync("mqtt://127.0.0.1:1883");
      try {
        await until("the MQTT reading on alpha and beta", async () => {
          await mq.publishAsync(`${topic}/mq9/power`, "1234.5", { qos: 1 });
          const a = await valueAt(demo.alpha, "meter-mq9/power/active");
          const b = await valueAt(demo.beta, "ext-alpha-meter-mq9/power/active");
          return a?.value === 1234.5 && b?.value === 1234.5 ? true : undefined;
        });
      } finally {
        await mq.endAsync();
      }

      // a real browser on beta's console sees alpha's meter live
      if (!existsSync(CHROMIUM))
        throw new Error(
          "chromium is missing: run `sudo bash scripts/install-system-deps.sh` (apt-get install -y chromium)",
        );
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
        ],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${demo.beta}/`);
        const cell = page.locator('td.value[data-uri="/ext-alpha-meter-1/power/active"]');
        await cell.waitFor({ timeout: 20_000 });
        await page.locator("#live.on").waitFor({ timeout: 10_000 });
        const first = await cell.getAttribute("data-value");
        await page.waitForFunction(
          ([sel, before]) =>
            (globalThis as any).document.querySelector(sel)?.getAttribute("data-value") !== before,
          ['td.value[data-uri="/ext-alpha-meter-1/power/active"]', first] as const,
          { timeout: 20_000 },
        );
        expect(Number(await cell.getAttribute("data-value"))).toBeGreaterThanOrEqual(0);
      } finally {
        await browser.close();
      }
    } finally {
      if (demo.proc.exitCode === null) await stopDemo(demo);
    }
  }, 180_000);
});

describe("relais demo over a real ejabberd", () => {
  it("federates through the server and accepts a plain SenML message from any XMPP client", async () => {
    const info = inject("ejabberd");
    const api = new EjabberdApi(info);
    const domain = info.otherDomain; // the federation suites use the main domain's accounts
    const password = `demo-${Math.random().toString(36).slice(2)}`;
    await api.register("alpha", password, domain);
    await api.register("beta", password, domain);
    const demo = await startDemo({
      RELAIS_XMPP_SERVICE: info.service,
      RELAIS_XMPP_DOMAIN: domain,
      RELAIS_XMPP_PASSWORD: password,
    });
    try {
      expect(demo.stdout()).toMatch(/XMPP server/);
      await expectMirrored(demo.alpha, "meter-1/power/active", demo.beta, "ext-alpha-meter-1/power/active");
      await expectMirrored(demo.beta, "meter-7/power/active", demo.alpha, "ext-beta-meter-7/power/active");
      const ready = await getJson(`${demo.alpha}/health/ready`);
      expect(ready.status).toBe(200);

      // an independent sender (ejabberd's own HTTP API, not our client) pushes a plain SenML body
      await api.sendMessage({
        from: `alpha@${domain}`,
        to: `beta@${domain}`,
        body: JSON.stringify([{ bn: "ext-manual/env/", n: "temperature", u: "Cel", v: 21.5, t: 0 }]),
      });
      const landed = await until("the plain message to land on beta", () =>
        valueAt(demo.beta, "ext-manual/env/temperature"),
      );
      expect(landed.value).toBe(21.5);

      // the same from a JID that is no registered App: rejected, nothing created
      const intruder = await api.freshAccount("intruder", domain);
      await api.sendMessage({
        from: intruder.jid,
        to: `beta@${domain}`,
        body: JSON.stringify([{ bn: "ext-intruder/env/", n: "temperature", v: 99 }]),
      });
      await new Promise((r) => setTimeout(r, 1500));
      expect((await getJson(`${demo.beta}/sensinact/providers/ext-intruder`)).status).toBe(404);
      // and outside what the App's user may write (no grant outside ext-*): rejected per record
      await api.sendMessage({
        from: `alpha@${domain}`,
        to: `beta@${domain}`,
        body: JSON.stringify([{ bn: "meter-7/power/", n: "active", v: -1 }]),
      });
      await new Promise((r) => setTimeout(r, 1500));
      expect((await valueAt(demo.beta, "meter-7/power/active"))?.value).not.toBe(-1);
    } finally {
      if (demo.proc.exitCode === null) await stopDemo(demo);
    }
  }, 180_000);
});
