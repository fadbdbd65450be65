import { describe, expect, it } from "vitest";
import { api, expectStatus } from "../../harness";
import { changeModel, modelRows, pg, runSync, uniqueName, webhookState, webhookUrl } from "../../harness/run";
import { keyPair, snowflakeAccount } from "./helpers";

/** Syncs from a Snowflake model (the fake SQL API, test/servers/snowflake.ts) to the webhook receiver, in every mode. */

describe("Snowflake syncs end to end", () => {
  async function snowflakeSync(mode: "upsert" | "mirror" | "append", rows = 60) {
    const account = await snowflakeAccount({ partition_rows: 25 });
    const table = uniqueName("snowflake_sync");
    await pg(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, name text, plan text, score int)`);
    await pg(
      `INSERT INTO ${table} SELECT g::text, 'user' || g || '@example.com', E'Name\\t' || g, CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, g FROM generate_series(1, $1) g`,
      [rows],
    );
    const source = await api.post("/api/v1/sources", {
      body: { name: "sf", type: "snowflake", config: account.config, credentials: { private_key: account.privateKey } },
    });
    expectStatus(source, 201);
    const model = await api.post("/api/v1/models", {
      body: { name: table, source_id: source.body.id, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "ID" },
    });
    expectStatus(model, 201);
    const destination = await api.post("/api/v1/destinations", {
      body: { name: "receiver", type: "webhook", config: { url: webhookUrl(table), batch_size: 50 } },
    });
    expectStatus(destination, 201);
    const sync = await api.post("/api/v1/syncs", {
      body: {
        name: `snowflake ${mode}`,
        model_id: model.body.id,
        destination_id: destination.body.id,
        mode,
        schedule: { type: "manual" },
        field_mappings: ["EMAIL", "NAME", "PLAN", "SCORE"].map((source) => ({
          source,
          destination: source[0] + source.slice(1).toLowerCase(),
        })),
      },
    });
    expectStatus(sync, 201);
    return { account, table, syncId: sync.body.id as string, sourceId: source.body.id as string };
  }

  for (const mode of ["upsert", "mirror", "append"] as const) {
    it(`${mode}: first run creates every row, a no-change run sends nothing, changes go out as the mode says`, async () => {
      const { table, syncId } = await snowflakeSync(mode);
      const first = await runSync(syncId);
      expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_processed: 60, rows_created: 60, rows_failed: 0 });
      const state = await webhookState(table);
      expect(state.rows["7"]).toEqual({ Email: "user7@example.com", Name: "Name\t7", Plan: "free", Score: 7 });
      const before = await modelRows(table);
      expect(state.rows).toEqual(before);

      const unchanged = await runSync(syncId);
      expect(unchanged).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_deleted: 0, rows_unchanged: 60 });
      expect((await webhookState(table)).requests).toBe(state.requests);

      await changeModel(table, 60);
      const changed = await runSync(syncId);
      const expected = {
        upsert: { rows_created: 5, rows_updated: 6, rows_deleted: 0 },
        mirror: { rows_created: 5, rows_updated: 6, rows_deleted: 4 },
        append: { rows_created: 5, rows_updated: 0, rows_deleted: 0 },
      }[mode];
      expect(changed).toMatchObject({ status: "succeeded", ...expected });
      const after = await modelRows(table);
      const held = (await webhookState(table)).rows;
      if (mode === "mirror") expect(held).toEqual(after);
      else {
        const want = { ...before };
        for (const [key, row] of Object.entries(after)) if (mode === "upsert" || !(key in before)) want[key] = row;
        expect(held).toEqual(want);
      }
    });
  }

  it("puts the sync in error at once when Snowflake refuses the credentials", async () => {
    const { account, syncId } = await snowflakeSync("upsert", 5);
    await account.configure({ public_key: (await keyPair()).publicKey });
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("auth_failed");
    const after = await api.get(`/api/v1/syncs/${syncId}`);
    expect(after.body).toMatchObject({ status: "error", next_run_at: null });
    expect(after.body.status_reason).toMatch(/390144/);
  });
});
