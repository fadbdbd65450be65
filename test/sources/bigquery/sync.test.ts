import { describe, expect, it } from "vitest";
import { api, expectStatus } from "../../harness";
import {
  changeModel,
  createDestination,
  createSync,
  customersTable,
  expectedRows,
  type Mode,
  modelNow,
  runSync,
  SECOND_RUN_COUNTS,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../../harness/run";
import { BIGQUERY_URL, bigquerySource, configure, newProject, projectState } from "./helpers";

/** Syncs from a BigQuery source (the fake BigQuery on the local Postgres) to the webhook receiver, through the API. */

const N = 40;

/** A BigQuery source, a model over a customers table and a webhook sync in `mode`. */
async function bigquerySync(table: string, mode: Mode) {
  const project = await newProject();
  const source = await api.post("/api/v1/sources", {
    body: { name: "bq", type: "bigquery", ...bigquerySource(project.project, project.keyFile) },
  });
  expectStatus(source, 201);
  const model = await api.post("/api/v1/models", {
    body: { name: table, source_id: source.body.id, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "id" },
  });
  expectStatus(model, 201);
  const endpoint = uniqueName("bqhook");
  const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(endpoint), batch_size: 15 } });
  const syncId = await createSync(model.body.id, destinationId, mode, WEBHOOK_FIELDS, {
    schedule: { type: "interval", interval_minutes: 30 },
  });
  return { syncId, endpoint, project: project.project, sourceId: source.body.id as string };
}

describe("BigQuery source, end to end", () => {
  for (const mode of ["upsert", "mirror", "append"] as const) {
    it.concurrent(`${mode}: the destination holds what the mode implies; a no-change run sends nothing`, async () => {
      const table = await customersTable(N);
      const before = await modelNow(table);
      const { syncId, endpoint, project } = await bigquerySync(table, mode);
      // Small pages, so a run reads its model over several getQueryResults pages.
      await configure(project, { page_rows: 9 });

      const first = await runSync(syncId);
      expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_created: N, rows_failed: 0 });
      expect(webhookRows(await webhookState(endpoint))).toEqual(before);

      await changeModel(table, N);
      const after = await modelNow(table);
      const second = await runSync(syncId);
      expect(second, JSON.stringify(second)).toMatchObject({ status: "succeeded", rows_failed: 0, ...SECOND_RUN_COUNTS[mode] });
      expect(webhookRows(await webhookState(endpoint))).toEqual(expectedRows(mode, before, after));

      const operations = (await webhookState(endpoint)).operations;
      const third = await runSync(syncId);
      expect(third).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_deleted: 0 });
      expect((await webhookState(endpoint)).operations).toBe(operations);
      const { requests } = await projectState(project);
      expect(requests.filter((r) => r.path.includes("pageToken") || r.params.pageToken).length).toBeGreaterThan(0);
    }, 90_000);
  }

  it("puts the sync in error at once when the token endpoint refuses the key", async () => {
    const table = await customersTable(5);
    const { syncId, sourceId, project } = await bigquerySync(table, "upsert");
    // The same account and key id, another private key: the token endpoint refuses the signature.
    const rogue = await fetch(`${BIGQUERY_URL}/_fake/${project}/key?rogue=1`).then((r) => r.text());
    expectStatus(await api.put(`/api/v1/sources/${sourceId}`, { body: { credentials: { service_account_json: rogue } } }), 200);
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("auth_failed");
    const after = await api.get(`/api/v1/syncs/${syncId}`);
    expect(after.body).toMatchObject({ status: "error", next_run_at: null });
    expect(after.body.status_reason).toMatch(/Invalid JWT Signature/);
  });
});
