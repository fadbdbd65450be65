// `npm run demo:change`: edits the demo warehouse's customers the way a day of business would,
// so the next run of a sync has something to send. Inserts new customers, updates some, churns
// some (they leave the "Active customers" model) and deletes some. Connects to the demo warehouse
// of a running `npm start` (127.0.0.1:PORT+1), or to WAREHOUSE_URL when set.
import pg from "pg";
import { customerRows, insertSql } from "./customers.mjs";

const port = Number(process.env.PORT ?? "8787");
const url = process.env.WAREHOUSE_URL ?? `postgres://postgres@127.0.0.1:${port + 1}/postgres?sslmode=disable`;
const counts = { inserted: 25, updated: 40, churned: 10, deleted: 15 };

const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
try {
  await client.connect();
} catch (err) {
  console.error(`Could not reach the warehouse at ${url}: ${err.message}`);
  console.error("Is `npm start` running (with the same PORT)? Set WAREHOUSE_URL for a warehouse of your own.");
  process.exit(1);
}
try {
  await client.query("BEGIN");
  const max = Number((await client.query("SELECT coalesce(max(id), 0) AS max FROM customers")).rows[0].max);
  // Updates, churns and deletes pick among the customers that existed before this change.
  const pickIds = async (n, where) =>
    (await client.query(`SELECT id FROM customers WHERE ${where} AND id <= ${max} ORDER BY random() LIMIT ${n}`)).rows.map((r) => r.id);
  await client.query(insertSql(customerRows(max + 1, counts.inserted, new Date()).map((r) => ({ ...r, status: "active" }))));
  const updated = await pickIds(counts.updated, "status <> 'churned'");
  await client.query(
    `UPDATE customers SET
       lifetime_value = lifetime_value + 1 + round((random() * 500)::numeric, 2),
       orders_count = orders_count + 1,
       plan = CASE plan WHEN 'free' THEN 'starter' WHEN 'starter' THEN 'pro' ELSE plan END,
       last_seen_at = now(), updated_at = now()
     WHERE id = ANY($1::bigint[])`,
    [updated],
  );
  const churned = await pickIds(counts.churned, `status <> 'churned' AND NOT id = ANY('{${updated.join(",")}}'::bigint[])`);
  await client.query("UPDATE customers SET status = 'churned', updated_at = now() WHERE id = ANY($1::bigint[])", [churned]);
  const deleted = await pickIds(
    counts.deleted,
    `status <> 'churned' AND NOT id = ANY('{${[...updated, ...churned].join(",")}}'::bigint[])`,
  );
  await client.query("DELETE FROM customers WHERE id = ANY($1::bigint[])", [deleted]);
  await client.query("COMMIT");
  const total = (await client.query("SELECT count(*)::int AS n FROM customers")).rows[0].n;
  console.log(
    [
      `customers: ${counts.inserted} inserted (ids ${max + 1}-${max + counts.inserted}), ${updated.length} updated, ` +
        `${churned.length} churned, ${deleted.length} deleted; ${total} rows now.`,
      `Next run of the "Active customers" model: ${counts.inserted} created, ${updated.length} updated, ` +
        `${churned.length + deleted.length} gone from the model (deleted in the destination by a mirror sync; kept by upsert and append).`,
      `Deleted ids: ${deleted.join(", ")}`,
    ].join("\n"),
  );
} catch (err) {
  await client.query("ROLLBACK").catch(() => undefined);
  console.error(`demo:change failed: ${err.message}`);
  process.exitCode = 1;
} finally {
  await client.end();
}
