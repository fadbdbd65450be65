/**
 * The benches' Postgres: its URL (BENCH_PG), psql's flags for it, a psql that returns the output,
 * and a psql whose output goes to /dev/null, timed (the baselines: COPY, the in-database diff).
 */
import { spawn, spawnSync } from "node:child_process";

export const PG_URL = process.env.BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/test";

/** psql's connection flags for {@link PG_URL}. */
export const psqlArgs = (() => {
  const url = new URL(PG_URL);
  return [
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-h",
    url.hostname,
    "-p",
    url.port || "5432",
    "-U",
    decodeURIComponent(url.username) || "postgres",
    "-d",
    url.pathname.slice(1) || "postgres",
  ];
})();

/** Runs SQL and returns its output (unaligned, tuples only unless `quiet` is false). */
export function psql(sql, { quiet = true } = {}) {
  // SQL on stdin: statements run one by one (-c would wrap them in one transaction, refusing VACUUM).
  const r = spawnSync("psql", [...psqlArgs, ...(quiet ? ["-At"] : []), "-f", "-"], { input: sql, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr || r.error}\n${sql}`);
  return r.stdout.trim();
}

/** Wall time of a psql command whose output goes to /dev/null. */
export function timedPsql(sql) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn("psql", [...psqlArgs, "-c", sql], { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`psql exited ${code}: ${sql}`))));
  });
}
