import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebhookReceiver } from "../servers/webhook-receiver";
import { apiCall, createCustomersTable, hasChromium, openConsole, startWorker, WAREHOUSE_URL, type Worker } from "./harness";

if (!hasChromium) {
  console.warn("test/browser skipped: /usr/bin/chromium not found (install it with `apt-get install -y chromium`; .ci/run does).");
}

const TOKEN = "browser_admin_token";
const ROWS = 30;
// Keys the receiver refuses, with its message: they become the run's row errors.
const FAIL_KEYS = { "7": "email address is invalid", "17": "duplicate record in CRM" };

interface Fixture {
  worker: Worker;
  /** The customers table the model reads (also a Postgres destination's table in the fields check). */
  table: string;
  receiver: { server: Server; port: number };
  context: BrowserContext;
  page: Page;
  cleanups: (() => Promise<void>)[];
}

describe.skipIf(!hasChromium)("web console in Chromium against wrangler dev", () => {
  let f: Fixture;
  let syncId = "";
  let runId = "";

  beforeAll(async () => {
    const cleanups: (() => Promise<void>)[] = [];
    try {
      const table = await createCustomersTable(ROWS);
      cleanups.push(table.drop);
      const receiver = await startWebhookReceiver();
      cleanups.push(() => new Promise<void>((resolve) => receiver.server.close(() => resolve())));
      // The first batch is held 4 s, so the console can be seen showing a run in progress.
      await fetch(`http://127.0.0.1:${receiver.port}/config/browser`, {
        method: "POST",
        body: JSON.stringify({ fail_keys: FAIL_KEYS, faults: [{ delay_ms: 4000 }] }),
      });
      const worker = await startWorker(TOKEN);
      cleanups.push(worker.stop);

      // What `npm start` seeds: a source, a model and a webhook destination.
      const source = await apiCall<{ id: string }>(worker, "POST", "/sources", {
        name: "Test warehouse",
        type: "postgres",
        connection_string: WAREHOUSE_URL,
      });
      await apiCall(worker, "POST", "/models", {
        name: "Browser customers",
        source_id: source.id,
        sql: `SELECT id, email, first_name, plan, lifetime_value FROM ${table.table}`,
        primary_key: "id",
      });
      await apiCall(worker, "POST", "/destinations", {
        name: "Test CRM",
        type: "webhook",
        config: { url: `http://127.0.0.1:${receiver.port}/hook/browser` },
      });

      // Not signed in: the first test signs in through the token form.
      const { context, page } = await openConsole(worker, TOKEN, cleanups, false);
      f = { worker, table: table.table, receiver, context, page, cleanups };
    } catch (err) {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      throw err;
    }
  });

  afterAll(async () => {
    if (!f) return;
    for (const c of f.cleanups.reverse()) await c().catch(() => undefined);
  });

  it("asks for the token once, refuses a wrong one with the API's message, and keeps the right one", async () => {
    const { page, worker } = f;
    await page.goto(`${worker.base}/`);
    await page.fill("input[name=token]", "not-a-token");
    await page.click("text=Save token");
    await expect.poll(() => page.locator("[role=alert]").textContent()).toContain("invalid or revoked API token");

    await page.fill("input[name=token]", TOKEN);
    await page.click("text=Save token");
    await page.waitForSelector("h1:has-text('Syncs')");
    await page.waitForSelector("text=No syncs yet");

    await page.reload();
    await page.waitForSelector("h1:has-text('Syncs')");
    expect(await page.locator("input[name=token]").count()).toBe(0);
  });

  it("creates a sync through the form, offering the model's columns for the field mapping", async () => {
    const { page } = f;
    await page.click("nav >> text=New sync");
    await page.fill("#name", "Customers to CRM");
    // The model's columns are offered; the mapping starts with every non-key column.
    await expect.poll(() => page.locator("#mappings select[name=mapping-source]").count()).toBe(4);
    const offered = await page.locator("#mappings select[name=mapping-source]").first().locator("option").allInnerTexts();
    expect(offered).toEqual(
      expect.arrayContaining(["id (int4)", "email (text)", "first_name (text)", "plan (text)", "lifetime_value (numeric)"]),
    );
    // Rename one destination field, drop one mapping, add one back by hand.
    await page.locator("#mappings input[name=mapping-destination]").nth(1).fill("firstName");
    await page.locator("#mappings tr").nth(3).locator("text=remove").click();
    await page.click("#add-mapping");
    await page.locator("#mappings select[name=mapping-source]").nth(3).selectOption("lifetime_value");
    await page.locator("#mappings input[name=mapping-destination]").nth(3).fill("ltv");

    // The live preview: the model's first rows as the destination will receive them, through a template too.
    const preview = page.locator("#mapping-preview");
    await expect.poll(() => preview.locator("th").allTextContents()).toEqual(["email", "firstName", "plan", "ltv"]);
    await page.click("#add-mapping");
    await page.locator("#mappings select[name=mapping-kind]").nth(4).selectOption("template");
    await page.locator("#mappings input[name=mapping-template]").nth(4).fill("{{ first_name | upcase }}!");
    await page.locator("#mappings input[name=mapping-destination]").nth(4).fill("shout");
    await expect.poll(() => preview.locator("th").allTextContents()).toEqual(["email", "firstName", "plan", "ltv", "shout"]);
    const firstRow = preview.locator("tbody tr").first().locator("td");
    const firstName = (await firstRow.nth(1).textContent()) ?? "";
    expect(firstName).not.toBe("");
    await expect.poll(() => firstRow.nth(4).textContent()).toBe(`${firstName.toUpperCase()}!`);
    // A template the API refuses is explained in the preview, naming the mapping.
    await page.locator("#mappings input[name=mapping-template]").nth(4).fill("{{ nope }}");
    await expect.poll(() => preview.locator("[role=alert]").textContent()).toContain("field_mappings.4.template");
    await page.locator("#mappings tr").nth(4).locator("text=remove").click();
    await expect.poll(() => preview.locator("th").allTextContents()).toEqual(["email", "firstName", "plan", "ltv"]);

    // An invalid cron expression: the API's validation message is shown.
    await page.selectOption("#schedule-type", "cron");
    await page.fill("#cron", "61 * * * *");
    await page.click("button[type=submit]");
    await expect.poll(() => page.locator("[role=alert]").textContent()).toContain("invalid cron expression");

    await page.selectOption("#schedule-type", "interval");
    await page.fill("#interval", "60");
    expect(await page.locator("#schedule-words").textContent()).toBe("→ every 60 minutes");
    await page.click("button[type=submit]");

    await page.waitForSelector("#sync-name:has-text('Customers to CRM')");
    syncId = /#\/syncs\/(syn_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";
    expect(syncId).toMatch(/^syn_/);
    expect(await page.locator("#sync-status").textContent()).toBe("created");
    expect(await page.locator("#sync-schedule").textContent()).toBe("every 60 minutes");
    expect(await page.locator("#sync-mode").textContent()).toContain("upsert");
    const sync = await apiCall<{ field_mappings: { source: string; destination: string }[] }>(f.worker, "GET", `/syncs/${syncId}`);
    expect(sync.field_mappings).toEqual([
      { source: "email", destination: "email" },
      { source: "first_name", destination: "firstName" },
      { source: "plan", destination: "plan" },
      { source: "lifetime_value", destination: "ltv" },
    ]);
  });

  it("triggers a run, shows its live progress, then its counts", async () => {
    const { page } = f;
    await page.click("button[name=trigger]");
    const row = page.locator("#runs tbody tr").first();
    await row.waitFor();
    // While the receiver holds the batch: the running run's phase and batches, polled.
    await expect.poll(() => row.textContent(), { timeout: 20_000, interval: 200 }).toContain("sending · 0/1 batches");
    expect(await row.locator(".badge").textContent()).toBe("running");
    await expect.poll(() => row.locator(".badge").textContent(), { timeout: 45_000, interval: 250 }).toBe("partial");
    expect(await row.locator("[data-count=created]").textContent()).toBe(String(ROWS - 2));
    expect(await row.locator("[data-count=failed]").textContent()).toBe("2");
    runId = (await row.getAttribute("data-run-id")) ?? "";
    // The destination really got the rows, with the mapped field names.
    const state = (await (await fetch(`http://127.0.0.1:${f.receiver.port}/state/browser`)).json()) as {
      rows: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(state.rows)).toHaveLength(ROWS - 2);
    expect(state.rows["1"]).toEqual({ email: "customer1@example.com", firstName: "Name 1", plan: "pro", ltv: "10.50" });
    await expect.poll(() => page.locator("#sync-status").textContent()).toBe("active");
  });

  it("pauses and resumes, enabling only the legal buttons", async () => {
    const { page } = f;
    expect(await page.locator("button[name=resume]").isDisabled()).toBe(true);
    await page.click("button[name=pause]");
    await expect.poll(() => page.locator("#sync-status").textContent()).toBe("paused");
    expect(await page.locator("button[name=pause]").isDisabled()).toBe(true);
    expect(await page.locator("button[name=resume]").isEnabled()).toBe(true);
    expect(await page.locator("#sync-next-run").textContent()).toContain("not scheduled while paused");

    await page.click("button[name=resume]");
    await expect.poll(() => page.locator("#sync-status").textContent()).toBe("active");
    expect(await page.locator("button[name=pause]").isEnabled()).toBe(true);
    expect(await page.locator("button[name=resume]").isDisabled()).toBe(true);
    expect(await page.locator("#sync-next-run").textContent()).toMatch(/\(in (59|60) min\)/);
  });

  it("shows the run's failed rows, searchable by key, and downloads them as CSV", async () => {
    const { page } = f;
    await page.locator(`#runs tr[data-run-id="${runId}"] a`).click();
    await page.waitForSelector("#run-status:has-text('partial')");
    expect(await page.locator("#run-counts [data-count=failed] b").textContent()).toBe("2");
    await expect.poll(() => page.locator("#errors tbody tr").count()).toBe(2);
    expect(await page.locator("#errors tbody").textContent()).toContain("duplicate record in CRM");

    await page.fill("#error-search", "17");
    await expect.poll(() => page.locator("#errors tbody tr").count()).toBe(1);
    expect(await page.locator("#errors tbody tr").first().getAttribute("data-key")).toBe("17");
    expect(await page.locator("#errors-note").textContent()).toContain("1 of 2 failed rows");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-csv")]);
    expect(download.suggestedFilename()).toBe(`${runId}-errors.csv`);
    const csv = readFileSync((await download.path()) ?? "", "utf8")
      .trim()
      .split("\r\n");
    expect(csv[0]).toBe("primary_key,operation,message,created_at");
    expect(
      csv
        .slice(1)
        .map((line) => line.split(",").slice(0, 3).join(","))
        .sort(),
    ).toEqual(["17,upsert,duplicate record in CRM", "7,upsert,email address is invalid"]);
  });

  it("lists the run's operations, filtered by status, op and key, a key's history, and charts the runs", async () => {
    const { page } = f;
    // Still on the run page: every operation of the run, with the destination's answer.
    await expect.poll(() => page.locator("#operations tbody tr").count()).toBe(ROWS);
    expect(await page.locator("#operations-note").textContent()).toBe(`Page 1: ${ROWS} operations.`);
    await page.selectOption("#op-status", "failed");
    await page.click("#operations-filter button[type=submit]");
    await expect.poll(() => page.locator("#operations tbody tr").count()).toBe(2);
    const failed = page.locator('#operations tbody tr[data-key="17"]');
    expect(await failed.textContent()).toContain("duplicate record in CRM");
    expect(await failed.locator("td").nth(3).textContent()).toBe("200");
    await page.selectOption("#op-status", "");
    await page.selectOption("#op-kind", "upsert");
    await page.fill("#op-key", "3");
    await page.click("#operations-filter button[type=submit]");
    await expect.poll(() => page.locator("#operations tbody tr").count()).toBe(1);
    expect(await page.locator("#operations tbody tr").first().getAttribute("data-status")).toBe("succeeded");
    await page.selectOption("#op-kind", "delete");
    await page.click("#operations-filter button[type=submit]");
    await expect.poll(() => page.locator("#operations-note").textContent()).toContain("No operations match");

    await page.fill("#record-key", "7");
    await page.click("#record-history button[type=submit]");
    await expect.poll(() => page.locator("#record-events tbody tr").count()).toBe(1);
    expect(await page.locator("#record-events tbody tr").first().getAttribute("data-run")).toBe(runId);
    expect(await page.locator("#record-events tbody").textContent()).toContain("email address is invalid");

    // The sync page charts its finished runs: one bar, whose segments are the run's counts.
    await page.click(`.crumb a[href="#/syncs/${syncId}"]`);
    const bar = page.locator(`#runs-chart .run-bar[data-run="${runId}"]`);
    await bar.waitFor();
    expect(await page.locator("#runs-chart .run-bar").count()).toBe(1);
    expect(await bar.locator("title").textContent()).toContain(`${ROWS - 2} created`);
    expect(await bar.locator('rect[data-series="created"]').count()).toBe(1);
    expect(await bar.locator('rect[data-series="failed"]').count()).toBe(1);
    expect(await bar.locator('rect[data-series="deleted"]').count()).toBe(0);
  });

  it("lists the sync with its status badge and last run", async () => {
    const { page } = f;
    await page.click("nav >> text=Syncs");
    const row = page.locator(`#syncs tr[data-sync-id="${syncId}"]`);
    await row.waitFor();
    expect(await row.locator("td").nth(1).textContent()).toBe("active");
    const lastRun = await row.locator("td").nth(5).textContent();
    expect(lastRun).toContain("partial");
    expect(lastRun).toContain(`${ROWS - 2} created`);
    expect(await row.locator("td").nth(4).textContent()).toBe("every 60 minutes");
  });

  it("edits the schedule to a cron in a time zone and shows it in words", async () => {
    const { page } = f;
    await page.goto(`${f.worker.base}/#/syncs/${syncId}/edit`);
    await page.waitForSelector("#schedule-type");
    await expect.poll(() => page.locator("#mappings select[name=mapping-source]").count()).toBe(4);
    await page.selectOption("#schedule-type", "cron");
    await page.fill("#cron", "0 6 * * *");
    await page.fill("#timezone", "Europe/Berlin");
    await page.click("button[type=submit]");
    await page.waitForSelector("#sync-schedule:has-text('every day at 06:00 Europe/Berlin')");
    expect(await page.locator("#sync-next-run").textContent()).toMatch(/\(in \d+ (min|h)\)/);
  });

  it("offers what updates send and whether nulls are sent, saves both and shows them", async () => {
    const { page } = f;
    await page.goto(`${f.worker.base}/#/syncs/${syncId}/edit`);
    await page.waitForSelector("#send");
    await expect.poll(() => page.locator("#mappings select[name=mapping-source]").count()).toBe(4);
    expect(await page.locator("#send").inputValue()).toBe("all_fields");
    expect(await page.locator("#null-values").inputValue()).toBe("send");
    await page.selectOption("#send", "changed_fields");
    await page.selectOption("#null-values", "skip");
    await page.click("button[type=submit]");
    await page.waitForSelector("#sync-send:has-text('only the fields that changed')");
    expect(await page.locator("#sync-send").textContent()).toContain("null fields are left out");
    const saved = await apiCall<{ send: string; null_values: string }>(f.worker, "GET", `/syncs/${syncId}`);
    expect(saved).toMatchObject({ send: "changed_fields", null_values: "skip" });
    // Back to the defaults, as the later tests expect them.
    await apiCall(f.worker, "PUT", `/syncs/${syncId}`, { send: "all_fields", null_values: "send" });
  });

  it("archives and restores, with the run button disabled while archived", async () => {
    const { page } = f;
    await page.click("button[name=archive]");
    await expect.poll(() => page.locator("#sync-status").textContent()).toBe("archived");
    expect(await page.locator("button[name=trigger]").isDisabled()).toBe(true);
    expect(await page.locator("button[name=restore]").isEnabled()).toBe(true);
    await page.click("button[name=restore]");
    await expect.poll(() => page.locator("#sync-status").textContent()).toBe("paused");
    expect(await page.locator("button[name=trigger]").isEnabled()).toBe(true);
  });

  it("previews a run with Dry run: its plan shown, nothing sent", async () => {
    const { page } = f;
    const requests = async () =>
      ((await (await fetch(`http://127.0.0.1:${f.receiver.port}/state/browser`)).json()) as { requests: number }).requests;
    const before = await requests();
    await page.click("button[name=trigger-dry]");
    await page.waitForSelector("#run-status:has-text('succeeded')", { timeout: 45_000 });
    // The two rows the CRM refused in the first run are all a run would send again.
    expect(await page.locator("#run-plan").textContent()).toContain("A run now would create 0, update 0, upsert 2 and delete 0 rows.");
    expect(await requests()).toBe(before);
    // Listed as a dry run, not as a run that sent nothing.
    await page.click(`.crumb a[href="#/syncs/${syncId}"]`);
    await expect.poll(() => page.locator("#runs tbody tr").first().locator("td").nth(2).textContent()).toBe("manual (dry run)");
  });

  it("edits constant and template mappings without losing them, and adds one", async () => {
    const { page } = f;
    type Mapping = { source?: string; static?: unknown; template?: string; destination: string };
    const before = await apiCall<{ field_mappings: Mapping[] }>(f.worker, "GET", `/syncs/${syncId}`);
    const mappings: Mapping[] = [
      ...before.field_mappings,
      { static: { tier: 2 }, destination: "meta" },
      { template: "{{ first_name | upcase }} <{{ email }}>", destination: "label" },
    ];
    await apiCall(f.worker, "PUT", `/syncs/${syncId}`, { field_mappings: mappings });
    await page.goto(`${f.worker.base}/#/syncs/${syncId}/edit`);
    await expect.poll(() => page.locator("#mappings select[name=mapping-kind]").count()).toBe(6);
    const kinds = await page
      .locator("#mappings select[name=mapping-kind]")
      .evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));
    expect(kinds).toEqual(["source", "source", "source", "source", "static", "template"]);
    expect(await page.locator("#mappings input[name=mapping-static]").nth(4).inputValue()).toBe('{"tier":2}');
    // A new row as a constant of plain text.
    await page.click("#add-mapping");
    await page.locator("#mappings select[name=mapping-kind]").nth(6).selectOption("static");
    await page.locator("#mappings input[name=mapping-static]").nth(6).fill("Warehouse");
    await page.locator("#mappings input[name=mapping-destination]").nth(6).fill("lead_source");
    await page.click("button[type=submit]");
    await page.waitForSelector("#sync-name");
    await expect
      .poll(async () => (await apiCall<{ field_mappings: Mapping[] }>(f.worker, "GET", `/syncs/${syncId}`)).field_mappings)
      .toEqual([...mappings, { static: "Warehouse", destination: "lead_source" }]);
    expect(await page.locator("table.mappings").textContent()).toContain("template {{ first_name | upcase }} <{{ email }}>");
  });

  it("suggests the destination's fields in the mapping editor and names the required ones not mapped", async () => {
    const { page } = f;
    await apiCall(f.worker, "POST", "/destinations", {
      name: "Ops table",
      type: "postgres",
      config: { table: f.table, key_column: "id" },
      credentials: { connection_string: WAREHOUSE_URL },
    });
    await page.click("nav >> text=New sync");
    await page.selectOption("#destination", { label: "Ops table (postgres)" });
    const suggested = page.locator("#destination-fields option");
    await expect.poll(() => suggested.count()).toBe(5);
    expect(await suggested.evaluateAll((os) => os.map((o) => o.getAttribute("value")))).toEqual([
      "id",
      "email",
      "first_name",
      "plan",
      "lifetime_value",
    ]);
    expect(await suggested.nth(1).textContent()).toBe("email · string · required");
    expect(await page.locator("#mappings input[name=mapping-destination]").first().getAttribute("list")).toBe("destination-fields");
    // Every non-key column is mapped at first, email (NOT NULL) among them; dropping it names it.
    expect(await page.locator("#required-fields").textContent()).toBe("");
    await page.locator("#mappings tr").nth(0).locator("text=remove").click();
    await expect.poll(() => page.locator("#required-fields").textContent()).toBe("Required by the destination and not mapped yet: email");
  });

  it("renders the API reference at /docs from its own assets, with no request leaving the machine", async () => {
    const { page } = f;
    const elsewhere: string[] = [];
    const onRequest = (request: { url(): string }) => {
      const host = new URL(request.url()).hostname;
      if (host !== "127.0.0.1" && host !== "localhost") elsewhere.push(request.url());
    };
    page.on("request", onRequest);
    try {
      await page.goto(`${f.worker.base}/docs`);
      await page.waitForSelector(".opblock-summary-path:has-text('/api/v1/syncs')");
      expect(await page.locator(".opblock").count()).toBeGreaterThan(20);
    } finally {
      page.off("request", onRequest);
    }
    expect(elsewhere).toEqual([]);
  });
});
