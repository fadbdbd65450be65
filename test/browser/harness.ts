import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { startWranglerDev, type WranglerDev } from "../servers/wrangler-dev";

/** Debian's Chromium; the browser tests are skipped when it is absent. */
const CHROMIUM = "/usr/bin/chromium";
/** Whether the browser tests can run here. */
export const hasChromium = existsSync(CHROMIUM);

/** The Postgres the browser tests use as the warehouse (same default as the workers tests). */
export const WAREHOUSE_URL = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A `wrangler dev` of this project with its own state directory, and how to stop it. */
export interface Worker extends WranglerDev {
  token: string;
}

/** Starts `wrangler dev` (test/servers/wrangler-dev.ts) with `token` as its admin token. */
export async function startWorker(token: string): Promise<Worker> {
  const dev = await startWranglerDev({
    vars: {
      ADMIN_TOKEN: token,
      ENCRYPTION_KEY: "YnJvd3Nlci10ZXN0LWtleS0zMi1ieXRlcy4uLi4uLi4=",
      ALLOW_PRIVATE_DESTINATIONS: "true",
    },
  });
  return { ...dev, token };
}

/** Chromium with the flags of an offline CI machine and a fresh profile; `close()` removes the profile. */
async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(path.join(tmpdir(), "retl-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Chromium on the console of `worker`: a page with a 15 s default timeout, signed in with `token`
 * unless `signIn` is false (the console then asks for it). Its `close` goes to `cleanups`.
 */
export async function openConsole(
  worker: Worker,
  token: string,
  cleanups: (() => Promise<void>)[],
  signIn = true,
): Promise<{ context: BrowserContext; page: Page }> {
  const browser = await launchChromium();
  cleanups.push(browser.close);
  const page = await browser.context.newPage();
  page.setDefaultTimeout(15_000);
  if (signIn) {
    await page.goto(`${worker.base}/`);
    await page.fill("input[name=token]", token);
    await page.click("text=Save token");
    await page.waitForSelector("h1:has-text('Syncs')");
  }
  return { context: browser.context, page };
}

/** A table of customers in the test warehouse, dropped by `drop()`. */
export async function createCustomersTable(rows: number): Promise<{ table: string; drop: () => Promise<void> }> {
  const table = `browser_customers_${process.pid}_${Date.now()}`;
  const client = new pg.Client({ connectionString: WAREHOUSE_URL });
  await client.connect();
  try {
    await client.query(
      `CREATE TABLE ${table} (id integer PRIMARY KEY, email text NOT NULL, first_name text, plan text, lifetime_value numeric(10,2))`,
    );
    await client.query(
      `INSERT INTO ${table} SELECT g, 'customer' || g || '@example.com', 'Name ' || g, (ARRAY['free','pro','enterprise'])[1 + g % 3], g * 10.5
         FROM generate_series(1, $1::int) AS g`,
      [rows],
    );
  } finally {
    await client.end();
  }
  return {
    table,
    drop: async () => {
      const c = new pg.Client({ connectionString: WAREHOUSE_URL });
      await c.connect();
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      await c.end();
    },
  };
}

/** POST/PUT/GET to the Worker's API with the admin token; throws with the body on an error status. */
export async function apiCall<T>(worker: Worker, method: string, apiPath: string, body?: unknown): Promise<T> {
  const res = await fetch(`${worker.base}/api/v1${apiPath}`, {
    method,
    headers: { authorization: `Bearer ${worker.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}
