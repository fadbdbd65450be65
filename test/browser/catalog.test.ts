// Over 400 lines: one Chromium session walks the catalogue in order (sources, models on that source,
// destinations), sharing one worker, receiver and page: created, tested and edited through forms
// drawn from the API's OpenAPI document.
import type { Server } from "node:http";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebhookReceiver } from "../servers/webhook-receiver";
import type { ReceiverState } from "../servers/webhook-receiver-types";
import { apiCall, createCustomersTable, hasChromium, openConsole, startWorker, WAREHOUSE_URL, type Worker } from "./harness";

const TOKEN = "browser_catalog_token";
const ROWS = 30;
const HOOK = "catalog";
const SIGNING_SECRET = "catalog-signing-secret-0123456789";

interface Fixture {
  worker: Worker;
  receiver: { server: Server; port: number };
  context: BrowserContext;
  page: Page;
  table: string;
  cleanups: (() => Promise<void>)[];
}

describe.skipIf(!hasChromium)("the console's sources, models and destinations in Chromium", () => {
  let f: Fixture;
  let sourceId = "";
  let destinationId = "";

  const receiverState = async () => (await (await fetch(`http://127.0.0.1:${f.receiver.port}/state/${HOOK}`)).json()) as ReceiverState;
  const go = async (hash: string, ready: string) => {
    await f.page.goto(`${f.worker.base}/#${hash}`);
    await f.page.waitForSelector(ready);
  };

  beforeAll(async () => {
    const cleanups: (() => Promise<void>)[] = [];
    try {
      const table = await createCustomersTable(ROWS);
      cleanups.push(table.drop);
      const receiver = await startWebhookReceiver();
      cleanups.push(() => new Promise<void>((resolve) => receiver.server.close(() => resolve())));
      // The receiver refuses any request not signed with this secret (401).
      await fetch(`http://127.0.0.1:${receiver.port}/config/${HOOK}`, {
        method: "POST",
        body: JSON.stringify({ signing_secret: SIGNING_SECRET }),
      });
      const worker = await startWorker(TOKEN);
      cleanups.push(worker.stop);
      const { context, page } = await openConsole(worker, TOKEN, cleanups);
      f = { worker, receiver, context, page, table: table.table, cleanups };
    } catch (err) {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      throw err;
    }
  });

  afterAll(async () => {
    if (!f) return;
    for (const c of f.cleanups.reverse()) await c().catch(() => undefined);
  });

  it("leads from an empty sync form to creating what it lacks", async () => {
    const { page } = f;
    await page.click("nav >> text=New sync");
    await page.click("#create-model");
    await page.waitForSelector("h1:has-text('New model')");
    // No source yet: the model form says so and links to the source form.
    await page.click("main >> text=Create a source");
    await page.waitForSelector("h1:has-text('New source')");
    expect(page.url()).toContain("#/sources/new");
  });

  it("offers every source type of the OpenAPI document, each with its own fields", async () => {
    const { page, worker } = f;
    const doc = (await (await fetch(`${worker.base}/api/v1/openapi.json`)).json()) as {
      components: { schemas: { CreateSource: { oneOf: { properties: { type: { enum: string[] } } }[] } } };
    };
    const documented = doc.components.schemas.CreateSource.oneOf.map((branch) => branch.properties.type.enum[0]);
    expect(documented).toEqual(expect.arrayContaining(["postgres", "redshift", "clickhouse"]));
    await go("/sources/new", "#field-type");
    expect(await page.locator("#field-type option").allInnerTexts()).toEqual(documented);

    // ClickHouse nests non-secret config and secret credentials.
    await page.selectOption("#field-type", "clickhouse");
    const paths = await page.locator("#settings [data-path]").evaluateAll((els) => els.map((el) => el.getAttribute("data-path")));
    expect(paths).toEqual(["config", "config.url", "config.database", "config.username", "credentials", "credentials.password"]);
    expect(await page.getAttribute("[name='config.url']", "type")).toBe("text");
    expect(await page.getAttribute("[name='credentials.password']", "type")).toBe("password");
    // Descriptions and examples come from the plug-in's schema metadata.
    expect(await page.locator("[data-path='config.url'] .hint").textContent()).toContain("The HTTP interface's URL");
    expect(await page.getAttribute("[name='config.url']", "placeholder")).toBe("e.g. https://host.clickhouse.cloud:8443");
    expect(await page.locator("[data-path='config.url'] label").textContent()).toContain("*");

    // Postgres takes one connection string, a secret (writeOnly in the document).
    await page.selectOption("#field-type", "postgres");
    expect(await page.locator("#settings [data-path]").evaluateAll((els) => els.map((el) => el.getAttribute("data-path")))).toEqual([
      "connection_string",
    ]);
    expect(await page.getAttribute("[name=connection_string]", "type")).toBe("password");
  });

  it("draws what a future connector's schema may hold: key-pair-or-token credentials, a key file, enums, booleans", async () => {
    const { page } = f;
    await go("/sources", "h1:has-text('Sources')");
    // schema-form.js in the page, on a document shaped like a warehouse plug-in's (not a registered type).
    // Plain JavaScript run in the page (the tests' tsconfig has no DOM types).
    const drawn = (await page.evaluate(`(async () => {
      const form = await import(\`\${location.origin}/schema-form.js\`);
      const doc = {
        components: {
          schemas: {
            CreateThing: {
              oneOf: [
                {
                  type: "object",
                  required: ["name", "type", "config", "credentials"],
                  properties: {
                    name: { type: "string" },
                    type: { type: "string", enum: ["warehouse"] },
                    config: {
                      type: "object",
                      required: ["account"],
                      properties: {
                        account: { type: "string", example: "xy12345" },
                        region: { type: "string", enum: ["eu", "us"], default: "eu" },
                        gzip: { type: "boolean" },
                        port: { type: "integer", minimum: 1 },
                      },
                    },
                    credentials: {
                      writeOnly: true,
                      oneOf: [
                        {
                          type: "object",
                          required: ["private_key"],
                          properties: { private_key: { type: "string", contentMediaType: "application/x-pem-file" } },
                        },
                        { type: "object", required: ["token"], properties: { token: { type: "string" } } },
                      ],
                    },
                  },
                },
              ],
            },
          },
        },
      };
      const variants = form.variantsOf(doc, "CreateThing");
      const drawnNodes = [];
      const fields = form.drawProperties(
        variants.get("warehouse"),
        "",
        false,
        { doc, editing: false, values: {}, masked: {}, drawn: drawnNodes },
        ["name", "type"],
      );
      const root = document.createElement("form");
      root.append(...fields.map((x) => x.el));
      document.body.append(root);
      const input = (name) => root.querySelector(\`[name='\${name}']\`);
      const kinds = Object.fromEntries(
        [...root.querySelectorAll("[name]")].map((el) => [
          el.name,
          el.tagName === "INPUT" ? el.type : el.tagName.toLowerCase(),
        ]),
      );
      const credentialsHint = root.querySelector("fieldset[data-path=credentials] > .hint")?.textContent;
      input("config.account").value = "xy12345";
      root.querySelector("[name='config.gzip']").value = "true";
      input("config.port").value = "443";
      root.querySelector("[name='credentials.private_key']").value =
        "-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----";
      const body = form.collect(fields);
      const rest = form.showFieldErrors(drawnNodes, [
        { path: "credentials", message: "give a private_key or a token, not both" },
        { path: "config.port", message: "too small" },
        { path: "elsewhere", message: "no field" },
      ]);
      const errors = Object.fromEntries(
        [...root.querySelectorAll("[data-error-for]")]
          .filter((el) => !el.hidden)
          .map((el) => [el.dataset.errorFor, el.textContent]),
      );
      root.remove();
      return { types: [...variants.keys()], kinds, credentialsHint, body, rest, errors };
    })()`)) as {
      types: string[];
      kinds: Record<string, string>;
      credentialsHint: string;
      body: unknown;
      rest: unknown;
      errors: Record<string, string>;
    };
    expect(drawn.types).toEqual(["warehouse"]);
    expect(drawn.kinds).toEqual({
      "config.account": "text",
      "config.region": "select",
      "config.gzip": "select",
      "config.port": "number",
      "credentials.private_key": "textarea",
      "credentials.token": "password",
    });
    expect(drawn.credentialsHint).toBe("Give one of: private_key; or token.");
    expect(drawn.body).toEqual({
      config: { account: "xy12345", gzip: true, port: 443 },
      credentials: { private_key: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----" },
    });
    expect(drawn.rest).toEqual([{ path: "elsewhere", message: "no field" }]);
    expect(drawn.errors).toEqual({ credentials: "give a private_key or a token, not both", "config.port": "too small" });
  });

  it("shows a 400 next to the field it names", async () => {
    const { page } = f;
    await go("/sources/new", "#field-type");
    await page.selectOption("#field-type", "clickhouse");
    await page.fill("#field-name", "Broken ClickHouse");
    await page.fill("[name='config.url']", "ftp://warehouse");
    await page.fill("[name='config.username']", "retl");
    await page.click("button[type=submit]");
    await expect.poll(() => page.locator("[data-error-for='config.url']").textContent()).toContain("must be the HTTP interface's");
    // The blank required database is sent empty, so the API names it too; the valid fields carry no error.
    expect(await page.locator("[data-error-for='config.database']").textContent()).not.toBe("");
    expect(await page.locator("[data-error-for='config.username']").isHidden()).toBe(true);
    expect(await page.locator("[data-error-for=name]").isHidden()).toBe(true);

    await page.selectOption("#field-type", "postgres");
    await page.fill("#field-name", "");
    await page.fill("[name=connection_string]", "mysql://user@host/db");
    await page.click("button[type=submit]");
    await expect.poll(() => page.locator("[data-error-for=connection_string]").textContent()).toContain("must be a postgres://");
    expect(await page.locator("[data-error-for=name]").textContent()).not.toBe("");
    // Nothing was created.
    expect((await apiCall<{ data: unknown[] }>(f.worker, "GET", "/sources")).data).toEqual([]);
  });

  it("creates a postgres source through the form and tests its connection", async () => {
    const { page } = f;
    await go("/sources/new", "#field-type");
    await page.selectOption("#field-type", "postgres");
    await page.fill("#field-name", "Local warehouse");
    await page.fill("[name=connection_string]", WAREHOUSE_URL);
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:has-text('Edit “Local warehouse”')");
    sourceId = /#\/sources\/(src_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";
    expect(sourceId).toMatch(/^src_/);
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toMatch(/^Connected · 1\d\.\d+.* · \d+ ms$/);
    expect(await page.getAttribute("#test-result [data-ok]", "data-ok")).toBe("true");

    await page.click("nav >> text=Sources");
    const row = page.locator(`#sources tr[data-id="${sourceId}"]`);
    await row.waitFor();
    expect(await row.locator("td").nth(1).textContent()).toBe("postgres");
  });

  it("edits a source without re-entering its secret, and keeps it", async () => {
    const { page } = f;
    await go(`/sources/${sourceId}`, "[name=connection_string]");
    // The secret is never pre-filled: the API does not return it.
    expect(await page.inputValue("[name=connection_string]")).toBe("");
    expect(await page.locator("[data-path=connection_string] .hint").textContent()).toContain("Leave blank to keep");
    await page.fill("#field-name", "Local warehouse (renamed)");
    await page.click("button[type=submit]");
    await page.waitForSelector("#flash:has-text('Saved.')");
    expect(await page.locator("h1").textContent()).toContain("renamed");
    // Still connects: the stored connection string was kept.
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toContain("Connected");

    // A wrong one, entered, replaces it: the test now fails, as a result shown on the page.
    await page.fill("[name=connection_string]", "postgres://postgres@127.0.0.1:1/test");
    await page.click("button[type=submit]");
    await page.waitForSelector("#flash:has-text('Saved.')");
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toMatch(/^Failed: .*\(unreachable\)/);
    await page.fill("[name=connection_string]", WAREHOUSE_URL);
    await page.click("button[type=submit]");
    await page.waitForSelector("#flash:has-text('Saved.')");
  });

  it("creates a model: SQL editor, preview, and the primary key picked from the previewed columns", async () => {
    const { page } = f;
    await page.click("nav >> text=Models");
    await page.click("main >> text=New model");
    await page.waitForSelector("#field-sql");
    await page.fill("#field-name", "Pro customers");
    await page.selectOption("#field-source_id", sourceId);
    // A query the guard refuses: the error sits under the SQL editor.
    await page.fill("#field-sql", `DELETE FROM ${f.table}`);
    await page.click("button[name=preview]");
    await expect.poll(() => page.locator("[data-error-for=sql]").textContent()).toContain("read-only");

    // Tab indents inside the editor instead of leaving it.
    await page.fill("#field-sql", "SELECT id, email, plan\nFROM");
    await page.focus("#field-sql");
    await page.keyboard.press("End");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Tab");
    await page.keyboard.type(`${f.table} WHERE plan = 'pro' ORDER BY id`);
    expect(await page.inputValue("#field-sql")).toBe(`SELECT id, email, plan\nFROM\n  ${f.table} WHERE plan = 'pro' ORDER BY id`);

    await page.click("button[name=preview]");
    await page.waitForSelector("#preview-rows");
    expect(await page.locator("#preview-rows th").allTextContents()).toEqual(["id", "email", "plan"]);
    // Ids 1, 4, 7, … are "pro" (the harness's plan is (ARRAY[…])[1 + id % 3]); 10 of 30 rows.
    expect(await page.locator("#preview-rows tbody tr").count()).toBe(10);
    expect(await page.locator("#preview-rows tbody tr").first().locator("td").allInnerTexts()).toEqual([
      "1",
      "customer1@example.com",
      "pro",
    ]);
    expect(await page.locator("#field-primary_key option").allInnerTexts()).toEqual(["id (int4)", "email (text)", "plan (text)"]);
    expect(await page.inputValue("#field-primary_key")).toBe("id");
    await page.selectOption("#field-primary_key", "email");
    await page.click("button[type=submit]");

    const row = page.locator("#models tbody tr").first();
    await row.waitFor();
    expect(await row.locator("td").allInnerTexts()).toEqual(
      expect.arrayContaining(["Pro customers", "Local warehouse (renamed)", "email", "3"]),
    );
    const models = await apiCall<{ data: { source_id: string; primary_key: string; sql: string }[] }>(f.worker, "GET", "/models");
    expect(models.data).toHaveLength(1);
    expect(models.data[0]).toMatchObject({ source_id: sourceId, primary_key: "email" });
    expect(models.data[0]?.sql).toContain(`  ${f.table} WHERE plan = 'pro'`);
  });

  it("edits a model, naming a key the query does not return next to the key", async () => {
    const { page } = f;
    await page.locator("#models tbody tr a").first().click();
    await page.waitForSelector("#field-sql");
    // The stored columns are offered before any preview.
    expect(await page.inputValue("#field-primary_key")).toBe("email");
    await page.fill("#field-sql", `SELECT id, plan FROM ${f.table}`);
    await page.click("button[type=submit]");
    await expect.poll(() => page.locator("[data-error-for=primary_key]").textContent()).toContain('"email" is not a column of the query');
    await page.click("button[name=preview]");
    await expect.poll(() => page.locator("#field-primary_key option").allInnerTexts()).toEqual(["id (int4)", "plan (text)"]);
    await page.click("button[type=submit]");
    await page.waitForSelector("#models");
    const models = await apiCall<{ data: { primary_key: string; columns: { name: string }[] }[] }>(f.worker, "GET", "/models");
    expect(models.data[0]?.primary_key).toBe("id");
    expect(models.data[0]?.columns.map((c) => c.name)).toEqual(["id", "plan"]);
  });

  it("creates a webhook destination with a signing secret and tests it against the receiver", async () => {
    const { page } = f;
    await page.click("nav >> text=Destinations");
    await page.click("main >> text=New destination");
    await page.waitForSelector("#field-type");
    expect(await page.locator("#field-type option").allInnerTexts()).toEqual(
      expect.arrayContaining(["webhook", "postgres", "salesforce", "hubspot"]),
    );
    await page.selectOption("#field-type", "webhook");
    await page.fill("#field-name", "Signed hook");
    await page.fill("[name='config.url']", `http://127.0.0.1:${f.receiver.port}/hook/${HOOK}`);
    await page.fill("[name='config.headers']", "X-Team: growth");
    await page.fill("[name='config.batch_size']", "50");
    expect(await page.getAttribute("[name='credentials.signing_secret']", "type")).toBe("password");
    await page.fill("[name='credentials.signing_secret']", SIGNING_SECRET);
    await page.click("button[type=submit]");
    await page.waitForSelector("h1:has-text('Edit “Signed hook”')");
    destinationId = /#\/destinations\/(dst_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";

    const before = (await receiverState()).deliveries.length;
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toBe("Connected");
    const deliveries = (await receiverState()).deliveries.slice(before);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.signature_valid).toBe(true);
    expect(deliveries[0]?.headers["x-team"]).toBe("growth");
    const saved = await apiCall<{ config: Record<string, unknown>; credentials: Record<string, string> }>(
      f.worker,
      "GET",
      `/destinations/${destinationId}`,
    );
    expect(saved.config).toMatchObject({ batch_size: 50, headers: { "X-Team": "growth" } });
    expect(Object.keys(saved.credentials)).toEqual(["signing_secret"]);
  });

  it("edits the destination: config pre-filled, the secret kept when left blank, replaced when entered", async () => {
    const { page } = f;
    await go(`/destinations/${destinationId}`, "[name='config.batch_size']");
    expect(await page.inputValue("[name='config.batch_size']")).toBe("50");
    expect(await page.inputValue("[name='config.headers']")).toBe("X-Team: growth");
    expect(await page.inputValue("[name='credentials.signing_secret']")).toBe("");
    expect(await page.locator("fieldset[data-path=credentials] > .hint").allInnerTexts()).toEqual(
      expect.arrayContaining([expect.stringContaining("Leave blank to keep")]),
    );
    await page.fill("[name='config.batch_size']", "25");
    await page.click("button[type=submit]");
    await page.waitForSelector("#flash:has-text('Saved.')");
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toBe("Connected");

    // A 400 on a nested field lands next to it.
    await page.fill("[name='config.batch_size']", "5000");
    await page.click("button[type=submit]");
    await expect.poll(() => page.locator("[data-error-for='config.batch_size']").textContent()).not.toBe("");

    await page.fill("[name='config.batch_size']", "25");
    await page.fill("[name='credentials.signing_secret']", "another-secret-0123456789");
    await page.click("button[type=submit]");
    await page.waitForSelector("#flash:has-text('Saved.')");
    await page.click("button[name=test]");
    await expect.poll(() => page.locator("#test-result").textContent()).toMatch(/^Failed: .*401/);
    const saved = await apiCall<{ config: Record<string, unknown> }>(f.worker, "GET", `/destinations/${destinationId}`);
    expect(saved.config.batch_size).toBe(25);
  });
});
