import { createHmac } from "node:crypto";
import type { Server } from "node:http";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAlertReceiver } from "../servers/alert-receiver";
import type { FakeState } from "../servers/alert-types";
import { apiCall, createCustomersTable, hasChromium, openConsole, startWorker, WAREHOUSE_URL, type Worker } from "./harness";

const TOKEN = "browser_alerts_token";

interface Fixture {
  worker: Worker;
  receiver: { server: Server; port: number };
  context: BrowserContext;
  page: Page;
  cleanups: (() => Promise<void>)[];
}

/** The console's alert channels page and the alerts section of the sync form, in Chromium against `wrangler dev`. */
describe.skipIf(!hasChromium)("console alerts in Chromium against wrangler dev", () => {
  let f: Fixture;
  let webhookId = "";

  const received = async (name: string) => (await (await fetch(`http://127.0.0.1:${f.receiver.port}/_state/${name}`)).json()) as FakeState;

  beforeAll(async () => {
    const cleanups: (() => Promise<void>)[] = [];
    try {
      const table = await createCustomersTable(5);
      cleanups.push(table.drop);
      const receiver = await startAlertReceiver();
      cleanups.push(() => new Promise<void>((resolve) => receiver.server.close(() => resolve())));
      const worker = await startWorker(TOKEN);
      cleanups.push(worker.stop);
      const source = await apiCall<{ id: string }>(worker, "POST", "/sources", {
        name: "warehouse",
        type: "postgres",
        connection_string: WAREHOUSE_URL,
      });
      await apiCall(worker, "POST", "/models", {
        name: "customers",
        source_id: source.id,
        sql: `SELECT id, email, plan FROM ${table.table}`,
        primary_key: "id",
      });
      await apiCall(worker, "POST", "/destinations", {
        name: "CRM",
        type: "webhook",
        config: { url: `http://127.0.0.1:${receiver.port}/r/crm` },
      });
      const { context, page } = await openConsole(worker, TOKEN, cleanups);
      f = { worker, receiver, context, page, cleanups };
    } catch (err) {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      throw err;
    }
  });

  afterAll(async () => {
    if (!f) return;
    for (const c of f.cleanups.reverse()) await c().catch(() => undefined);
  });

  it("creates a webhook channel, shows its signing secret once, and sends a signed test alert", async () => {
    const { page } = f;
    await page.click("nav >> text=Alerts");
    await page.waitForSelector("text=No alert channels yet.");
    await page.fill("#channel-name", "Ops hook");
    await page.selectOption("#channel-type", "webhook");
    await page.fill("#channel-config", `http://127.0.0.1:${f.receiver.port}/r/ops`);
    await page.click("text=Add channel");
    const secret = (await page.locator("#signing-secret code").textContent()) ?? "";
    expect(secret).toMatch(/^[\w-]{40,}$/);
    const row = page.locator("#channels tr[data-channel]");
    await expect.poll(() => row.count()).toBe(1);
    webhookId = (await row.getAttribute("data-channel")) ?? "";
    expect(await row.locator("td").nth(3).textContent()).toBe("never");

    await row.locator("button.test-channel").click();
    await expect.poll(() => page.locator(".note").textContent()).toContain("Test alert sent to “Ops hook”");
    const [req] = (await received("ops")).requests;
    const expected = createHmac("sha256", secret).update(`${req?.headers["x-timestamp"]}.${req?.raw}`).digest("hex");
    expect(req?.headers["x-signature"]).toBe(`sha256=${expected}`);
    expect(JSON.parse(req?.raw ?? "{}")).toMatchObject({ event: "test", sync: null });
    await expect.poll(() => page.locator(`tr[data-channel=${webhookId}] td`).nth(3).textContent()).not.toBe("never");
    // The secret is not shown again.
    await page.reload();
    await page.waitForSelector("#channels tr[data-channel]");
    expect(await page.content()).not.toContain(secret);
  });

  it("shows a channel's last error after a refused test", async () => {
    const { page } = f;
    await fetch(`http://127.0.0.1:${f.receiver.port}/_config/gone`, {
      method: "POST",
      body: JSON.stringify({ answers: [{ status: 404, body: "channel_not_found", times: 5 }] }),
    });
    await page.fill("#channel-name", "Team Slack");
    await page.selectOption("#channel-type", "slack");
    await page.fill("#channel-config", `http://127.0.0.1:${f.receiver.port}/r/gone`);
    await page.click("text=Add channel");
    const row = page.locator("#channels tr", { hasText: "Team Slack" });
    await expect.poll(() => row.count()).toBe(1);
    // The webhook URL of Slack is a secret: masked in the list.
    expect(await row.locator("td").nth(2).textContent()).toMatch(/^\*\*\*\*/);
    await row.locator("button.test-channel").click();
    await expect.poll(() => page.locator("[role=alert]").textContent()).toContain("HTTP 404: channel_not_found");
    await expect
      .poll(() => page.locator("#channels tr", { hasText: "Team Slack" }).locator(".channel-error").textContent())
      .toBe("HTTP 404: channel_not_found");
  });

  it("sets a sync's alerts in the sync form and shows them again when editing", async () => {
    const { page } = f;
    await page.click("nav >> text=New sync");
    await page.fill("#name", "Alerted sync");
    await expect.poll(() => page.locator("#mappings select[name=mapping-source]").count()).toBe(2);
    await page.check("#alerts input[value=own]");
    await page.check(`#alerts input[name=alert-channel][value=${webhookId}]`);
    await page.uncheck("#alerts input[name=on_recovery]");
    await page.fill("#alerts input[name=rows_failed_pct]", "5");
    await page.fill("#alerts input[name=late_minutes]", "");
    await page.fill("#alerts input[name=max_duration_minutes]", "120");
    await page.click("button[type=submit]");
    await page.waitForSelector("#sync-name:has-text('Alerted sync')");
    const syncId = /#\/syncs\/(syn_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";
    const sync = await apiCall<{ alerts: unknown }>(f.worker, "GET", `/syncs/${syncId}`);
    expect(sync.alerts).toEqual({
      channel_ids: [webhookId],
      on_failure: true,
      on_error_state: true,
      on_recovery: false,
      rows_failed_pct: 5,
      row_count_change_pct: null,
      late_minutes: null,
      max_duration_minutes: 120,
    });

    await page.goto(`${f.worker.base}/#/syncs/${syncId}/edit`);
    await page.waitForSelector("#alerts");
    expect(await page.isChecked("#alerts input[value=own]")).toBe(true);
    expect(await page.isChecked(`#alerts input[name=alert-channel][value=${webhookId}]`)).toBe(true);
    expect(await page.isChecked("#alerts input[name=on_recovery]")).toBe(false);
    expect(await page.inputValue("#alerts input[name=rows_failed_pct]")).toBe("5");
    expect(await page.inputValue("#alerts input[name=late_minutes]")).toBe("");
  });
});
