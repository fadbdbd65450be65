import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeRestApi } from "../servers/rest-api";
import { apiCall, hasChromium, openConsole, startWorker, type Worker } from "./harness";

const TOKEN = "browser_http_token";
const TENANT = "console";

/** The http destination's form, drawn from the OpenAPI document like every other type's. */
describe.skipIf(!hasChromium)("the console's http destination form in Chromium", () => {
  let worker: Worker;
  let page: Page;
  let api: string;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const rest = await startFakeRestApi();
    cleanups.push(() => new Promise<void>((resolve) => rest.server.close(() => resolve())));
    api = `http://127.0.0.1:${rest.port}`;
    await fetch(`${api}/_config/${TENANT}`, { method: "POST", body: JSON.stringify({ auth: { type: "bearer", token: "good-token" } }) });
    worker = await startWorker(TOKEN);
    cleanups.push(worker.stop);
    ({ page } = await openConsole(worker, TOKEN, cleanups));
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it("creates one with a URL template, a body template in a text area and a bearer token; a bad template is shown on its field", async () => {
    await page.goto(`${worker.base}/#/destinations/new`);
    await page.waitForSelector("#field-type");
    await page.selectOption("#field-type", "http");
    await page.fill("#field-name", "Users API");
    await page.fill("[name='config.url']", `${api}/t/${TENANT}/users/{{ key }}`);
    await page.selectOption("[name='config.method']", "PUT");
    expect(await page.locator("[name='config.body']").evaluate((el) => el.tagName)).toBe("TEXTAREA");
    await page.fill("[name='config.body']", '{"email": {{ email | shout }}}');
    expect(await page.getAttribute("[name='credentials.bearer_token']", "type")).toBe("password");
    await page.fill("[name='credentials.bearer_token']", "good-token");
    await page.click("button[type=submit]");
    await expect.poll(() => page.locator("[data-error-for='config.body']").textContent()).toContain("undefined filter: shout");

    await page.fill("[name='config.body']", '{\n  "email": {{ email | json }}\n}');
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:has-text('Edit “Users API”')");
    const id = /#\/destinations\/(dst_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";
    const saved = await apiCall<{ config: Record<string, unknown>; credentials: Record<string, string> }>(
      worker,
      "GET",
      `/destinations/${id}`,
    );
    expect(saved.config).toMatchObject({ method: "PUT", body: '{\n  "email": {{ email | json }}\n}', request: "per_row" });
    expect(Object.keys(saved.credentials)).toEqual(["bearer_token"]);
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toBe("Connected");
  });
});
