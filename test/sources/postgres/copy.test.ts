import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { encodeRow } from "../../../src/engine/row";
import { type CopyVia, copyQuery } from "../../../src/sources/postgres/copy";
import { streamQuery } from "../../../src/sources/postgres/cursor";
import type { ExtractHandler, WarehouseOptions } from "../../../src/sources/source";
import { admin, opts, URL_, useTables, warehouseError } from "./helpers";

const { suffix, table, big } = useTables();

/**
 * The routes: COPY over TCP, cursor pages over TCP, and cursor pages over a Neon-style WebSocket
 * proxy (test/servers/wsproxy.ts), as Neon hosts are read. Both cursor routes take DataRows off the
 * socket's bytes.
 */
type Route = CopyVia | "websocket";
const ROUTES: Route[] = ["copy", "cursor", "websocket"];

/**
 * Every line of copyQuery as text, by route; with `ranges` the handler also takes batches of
 * lines (`lineRanges`, as extraction's does), else only one line at a time.
 */
async function copyLines(sql: string, columns: string[] | null, via: Route, o: WarehouseOptions = opts, ranges = true) {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  let batches = 0;
  const handler: ExtractHandler = {
    columns: (fields) => columns ?? fields.map((f) => f.name),
    line: (b) => void lines.push(decoder.decode(b)),
  };
  if (ranges)
    handler.lineRanges = (bytes, starts, ends, count) => {
      batches++;
      for (let i = 0; i < count; i++) lines.push(decoder.decode(bytes.subarray(starts[i], ends[i])));
    };
  const result = await copyQuery(
    URL_,
    sql,
    via === "websocket" ? { ...o, webSocketProxy: env.WSPROXY_URL } : o,
    handler,
    via === "websocket" ? undefined : via,
  );
  return { ...result, lines, batches };
}

describe("copyQuery", () => {
  const awkward = `SELECT id, name, amount, created_at, day, active, ratio, payload, tags, data, local_ts, small,
      E'tab\\there\\nnew line \\\\ back' AS odd, '' AS empty, 'zoë ✓ 😀' AS wide FROM ${table}`;

  it("reads the same lines through COPY and through the cursor, equal to the cursor stream's values encoded", async () => {
    const viaCopy = await copyLines(awkward, null, "copy");
    const viaCursor = await copyLines(awkward, null, "cursor");
    const viaWebSocket = await copyLines(awkward, null, "websocket");
    const encoded: string[] = [];
    for await (const page of streamQuery(URL_, awkward, opts)) for (const row of page.rows) encoded.push(`${encodeRow(row)}\n`);
    expect(viaCopy.rows).toBe(2);
    expect(viaCopy.lines.sort()).toEqual(encoded.sort());
    expect(viaCursor.lines.sort()).toEqual(encoded.sort());
    expect(viaWebSocket.lines.sort()).toEqual(encoded.sort());
    expect(viaCopy.fields.map((f) => f.type)).toEqual([
      "int8",
      "text",
      "numeric",
      "timestamptz",
      "date",
      "bool",
      "float8",
      "jsonb",
      "text[]",
      "bytea",
      "timestamp",
      "int2",
      "text",
      "text",
      "text",
    ]);
    expect(viaCopy.lines.join("")).toContain("tab\\there\\nnew line \\\\ back\t");
  });

  it("reads rows far larger than one socket read, among many small ones, intact on both routes", async () => {
    // Rows of ~1.3 MB span several reads of the reader's reused buffer; nothing in them repeats.
    const long = (i: number, k: number) => `${i}:${Array.from({ length: k }, (_, j) => j + 1).join(",")}`;
    const sql = `SELECT i AS id, i || ':' || (SELECT string_agg(j::text, ',') FROM generate_series(1, CASE WHEN i % 5000 = 0 THEN 200000 ELSE 1 + i % 7 END) j) AS v
      FROM generate_series(1, 20000) i`;
    const expected = Array.from({ length: 20000 }, (_, n) => n + 1).map((i) => `${i}\t${long(i, i % 5000 === 0 ? 200000 : 1 + (i % 7))}\n`);
    for (const via of ROUTES) {
      for (const ranges of [true, false]) {
        const { lines } = await copyLines(sql, null, via, opts, ranges);
        expect(lines.length, via).toBe(20000);
        const wrong = lines.filter((line, n) => line !== expected[n]).length;
        expect(wrong, `${via}, ranges ${ranges}`).toBe(0);
      }
    }
  });

  it("reads more rows than a cursor page holds (50,000 where rows are split off the bytes): each once, in order", async () => {
    const n = 120_001;
    for (const via of ROUTES) {
      for (const ranges of [true, false]) {
        const { rows, lines, batches } = await copyLines(
          `SELECT i AS id, 'r' || i AS v FROM generate_series(1, ${n}) i`,
          null,
          via,
          opts,
          ranges,
        );
        expect(rows, via).toBe(n);
        expect(lines.length, via).toBe(n);
        expect(lines.filter((line, k) => line !== `${k + 1}\tr${k + 1}\n`).length, `${via}, ranges ${ranges}`).toBe(0);
        // Taken off the bytes, rows come in batches of a read buffer's worth (many rows a batch).
        if (ranges) expect(batches, via).toBeLessThan(n / 20);
      }
    }
  });

  it("reads only the chosen columns, in the chosen order, a column twice if asked", async () => {
    for (const via of ROUTES) {
      const { lines } = await copyLines(`SELECT * FROM ${big} WHERE id <= 3`, ["c6", "id", "c6"], via);
      expect(lines.sort()).toEqual(["customer-1\t1\tcustomer-1\n", "customer-2\t2\tcustomer-2\n", "customer-3\t3\tcustomer-3\n"]);
    }
  });

  it("passes what the handler throws through unchanged, and closes the session", async () => {
    const applicationName = `wh_test_copy_throw_${suffix}`;
    const mine = new Error("missing column");
    await expect(
      copyQuery(
        URL_,
        `SELECT id FROM ${big}`,
        { ...opts, applicationName },
        {
          columns: () => {
            throw mine;
          },
          line: () => undefined,
        },
      ),
    ).rejects.toBe(mine);
    const late = new Error("R2 put failed");
    let seen = 0;
    const failing: ExtractHandler = {
      columns: () => ["id"],
      line: () => {
        if (++seen === 1000) return Promise.reject(late);
      },
    };
    await expect(copyQuery(URL_, `SELECT * FROM ${big}`, { ...opts, applicationName }, failing)).rejects.toBe(late);
    // Stopped at the failure rather than reading the other 199,000 rows.
    expect(seen).toBeLessThan(100_000);
    seen = 0;
    const failingBatches: ExtractHandler = {
      ...failing,
      lineRanges: (_bytes, _starts, _ends, count) => {
        seen += count;
        if (seen >= 1000) return Promise.reject(late);
      },
    };
    await expect(copyQuery(URL_, `SELECT * FROM ${big}`, { ...opts, applicationName }, failingBatches)).rejects.toBe(late);
    expect(seen).toBeLessThan(100_000);
    await expect
      .poll(() => admin(`SELECT pid FROM pg_stat_activity WHERE application_name = '${applicationName}'`), { timeout: 5_000 })
      .toEqual([]);
  });

  it("stops reading from the warehouse while the handler's promise is pending", async () => {
    let total = 0;
    let duringPause = 0;
    let paused = false;
    // `rows` more rows came: a pause at the 10th row's call.
    const took = (rows: number) => {
      const before = total;
      total += rows;
      if (paused) duringPause += rows;
      if (before >= 10 || total < 10) return;
      paused = true;
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          paused = false;
          resolve();
        }, 1_500),
      );
    };
    await copyQuery(URL_, `SELECT * FROM ${big}`, opts, { columns: (fields) => fields.map((f) => f.name), line: () => took(1) });
    expect(total).toBe(200_000);
    // Only rows already in the socket buffer at the pause arrive during it (a few kilobytes' worth).
    expect(duringPause).toBeLessThan(10_000);
    total = duringPause = 0;
    await copyQuery(URL_, `SELECT * FROM ${big}`, opts, {
      columns: (fields) => fields.map((f) => f.name),
      line: () => took(1),
      lineRanges: (_bytes, _starts, _ends, count) => took(count),
    });
    expect(total).toBe(200_000);
    expect(duringPause).toBeLessThan(10_000);
  });

  it("fails with the warehouse's codes, on every route", async () => {
    for (const via of ROUTES) {
      const timeout = await warehouseError(copyLines("SELECT pg_sleep(5) AS s", null, via, { ...opts, statementTimeoutMs: 300 }));
      expect(timeout.code).toBe("timeout");
      const bad = await warehouseError(copyLines("SELECT FROM FROM", null, via));
      expect(bad).toMatchObject({ code: "query_failed", position: 13 });
      const mid = await warehouseError(copyLines(`SELECT id, 1 / (id - 150000) AS x FROM ${big}`, null, via));
      expect(mid.message).toContain("division by zero");
      expect((await warehouseError(copyLines(`DELETE FROM ${table} RETURNING id`, null, via))).code).toBe("read_only");
      const writes = await warehouseError(copyLines(`WITH gone AS (DELETE FROM ${table} RETURNING id) SELECT id FROM gone`, null, via));
      expect(writes.code).toBe("read_only");
      const second = await warehouseError(copyLines(`SELECT 1 AS a) AS model; DROP TABLE ${table}; SELECT (1`, null, via));
      expect(second.code).toBe("query_failed");
    }
    expect(await admin(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 2 }]);
  });
});
