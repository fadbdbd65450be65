import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { describeQuery, previewQuery, streamQuery, testConnection } from "../../src/source/postgres";

const opts = { statementTimeoutMs: 5000, allowPrivate: true };
describe("smoke", () => {
  it("connects", async () => {
    console.log(await testConnection(env.TEST_WAREHOUSE_URL, opts));
    console.log(await testConnection("postgres://postgres@127.0.0.1:5999/test", opts));
    console.log(await describeQuery(env.TEST_WAREHOUSE_URL, "select 1 as a, now() as b, 'x'::text c, 1.5::numeric d, array[1,2] e", opts));
    console.log(JSON.stringify(await previewQuery(env.TEST_WAREHOUSE_URL, "select 1 as a, now() as b, 'x'::text c, 1.5::numeric d, array[1,2] e, '\\x0102'::bytea f, '{\"a\":1}'::jsonb g", 5, opts)));
    for await (const p of streamQuery(env.TEST_WAREHOUSE_URL, "select g from generate_series(1,25) g", opts, { pageSize: 10 })) console.log(p.fields, p.rows.length, p.rows[0]);
  });
});
