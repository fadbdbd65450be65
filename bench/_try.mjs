import { unstable_startWorker } from "wrangler";
const worker = await unstable_startWorker({ config: "bench/wrangler.toml", dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: "/tmp/retl-bench-state", logLevel: "error", watch: false } });
await worker.ready;
const FIELDS = ["id", "email", "name", "city", "score", "amount", "active", "created_at", "plan", "token"];
const sql = `SELECT i AS id, 'user' || i || '@example.com' AS email, 'Person ' || i AS name, 'Paris' AS city, (i * 7919) % 1000 AS score, 12.5 AS amount, true AS active, now() AS created_at, 'plan-3' AS plan, md5(i::text) AS token FROM generate_series(1, 200000) i`;
for (let r = 0; r < 2; r++)
for (const skip of ["nowriter", "noput", undefined]) {
  const job = { connectionString: "postgres://postgres@127.0.0.1:5432/test", sql, primaryKey: "id", mapped: FIELDS.slice(1), partitions: 4, pageSize: 5000, run: "x", skip };
  const t = performance.now();
  const res = await worker.fetch("http://bench/extract", { method: "POST", body: JSON.stringify(job) });
  const b = await res.json();
  console.log(skip, b.rows, b.error ?? "", (performance.now() - t).toFixed(0), "ms");
}
await worker.dispose();
