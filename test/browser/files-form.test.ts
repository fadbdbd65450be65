// The files destination's console form, drawn from the OpenAPI document like every other type's.
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiCall, hasChromium, openConsole, startWorker, type Worker } from "./harness";

const TOKEN = "browser_files_token";

describe.skipIf(!hasChromium)("the files destination's form in Chromium", () => {
  let worker: Worker;
  let page: Page;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    worker = await startWorker(TOKEN);
    cleanups.push(worker.stop);
    ({ page } = await openConsole(worker, TOKEN, cleanups));
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it("offers targets and formats with their hints, saves an R2 export and tests it against the Worker's bucket", async () => {
    await page.goto(`${worker.base}/#/destinations/new`);
    await page.waitForSelector("#field-type");
    await page.selectOption("#field-type", "files");
    expect(await page.locator("[name='config.target'] option").allInnerTexts()).toEqual(expect.arrayContaining(["r2", "s3"]));
    expect(await page.locator("[name='config.format'] option").allInnerTexts()).toEqual(
      expect.arrayContaining(["csv", "ndjson", "parquet"]),
    );
    expect(await page.locator("[data-path='config.path'] .hint").textContent()).toContain("{{ run_id }}");
    expect(await page.getAttribute("[name='credentials.secret_access_key']", "type")).toBe("password");

    await page.fill("#field-name", "Lake export");
    await page.fill("[name='config.path']", "lake/{{ sync_id }}/{{ date }}/");
    await page.selectOption("[name='config.format']", "parquet");
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:has-text('Edit “Lake export”')");
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toBe("Connected");
    const id = /#\/destinations\/(dst_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";
    const saved = await apiCall<{ type: string; config: Record<string, unknown> }>(worker, "GET", `/destinations/${id}`);
    expect(saved).toMatchObject({ type: "files", config: { target: "r2", format: "parquet", path: "lake/{{ sync_id }}/{{ date }}/" } });

    // A placeholder the template does not know is refused next to the field.
    await page.fill("[name='config.path']", "{{ tenant }}/");
    await page.click("button[type=submit]");
    await expect.poll(() => page.locator("[data-error-for='config.path']").textContent()).toContain("unknown placeholder");
  });
});
