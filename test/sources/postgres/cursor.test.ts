import { describe, expect, it } from "vitest";
import { type StreamPage, streamQuery } from "../../../src/sources/postgres/cursor";
import { jsonValue } from "../../../src/sources/postgres/types";
import { admin, drain, opts, URL_, useTables, warehouseError } from "./helpers";

const { suffix, table, big } = useTables();

describe("streamQuery", () => {
  it("streams 25,000 rows in pages of 1000, each row once and in order", async () => {
    const ids: number[] = [];
    let pages = 0;
    for await (const page of streamQuery(URL_, `SELECT id, c1 FROM ${big} WHERE id <= 25000 ORDER BY id`, opts, { pageSize: 1000 })) {
      pages++;
      expect(page.fields).toEqual([
        { name: "id", typeId: 23, type: "int4" },
        { name: "c1", typeId: 25, type: "text" },
      ]);
      expect(page.rows.length).toBeLessThanOrEqual(1000);
      for (const row of page.rows) {
        expect(typeof row[1]).toBe("string");
        ids.push(Number(row[0]));
      }
    }
    expect(pages).toBe(25);
    expect(ids.length).toBe(25_000);
    expect(ids.every((id, i) => id === i + 1)).toBe(true);
  });

  it("yields one empty page with the fields when there are no rows", async () => {
    const pages: StreamPage[] = [];
    for await (const page of streamQuery(URL_, `SELECT id FROM ${big} WHERE false`, opts)) pages.push(page);
    expect(pages).toEqual([{ fields: [{ name: "id", typeId: 23, type: "int4" }], rows: [] }]);
  });

  it("gives raw text values that jsonValue converts", async () => {
    const rows: (string | null)[][] = [];
    for await (const page of streamQuery(URL_, `SELECT id, created_at, data, payload FROM ${table} WHERE id > 2`, opts)) {
      rows.push(...page.rows);
      expect(page.fields.map((f, i) => jsonValue(f.typeId, page.rows[0]?.[i] ?? null))).toEqual([
        "9007199254740993",
        "2024-03-01T12:34:56.789012Z",
        "\\x00ff10",
        { plan: "pro", seats: 3, nested: { a: [1, 2] } },
      ]);
    }
    expect(rows).toEqual([
      ["9007199254740993", "2024-03-01 12:34:56.789012+00", "\\x00ff10", '{"plan": "pro", "seats": 3, "nested": {"a": [1, 2]}}'],
    ]);
  });

  it("fails with timeout, query_failed and read_only codes", async () => {
    expect((await warehouseError(drain("SELECT pg_sleep(5)", { ...opts, statementTimeoutMs: 200 }))).code).toBe("timeout");
    const bad = await warehouseError(drain("SELECT FROM FROM"));
    expect(bad.code).toBe("query_failed");
    expect(bad.position).toBe(13);
    expect((await warehouseError(drain(`SELECT 1/0 FROM ${big}`))).message).toContain("division by zero");
    expect((await warehouseError(drain(`DELETE FROM ${table}`))).code).toBe("read_only");
  });

  it("leaves no session or transaction behind when closed early", async () => {
    const applicationName = `wh_test_early_${suffix}`;
    const sessions = async () =>
      admin(`SELECT state, xact_start IS NOT NULL AS in_xact FROM pg_stat_activity WHERE application_name = '${applicationName}'`);
    const stream = streamQuery(URL_, `SELECT * FROM ${big} ORDER BY id`, { ...opts, applicationName }, { pageSize: 500 });
    const first = await stream.next();
    expect(first.done).toBe(false);
    // The session is open inside its transaction while the caller holds a page.
    const open = await sessions();
    expect(open).toHaveLength(1);
    expect(open[0]?.in_xact).toBe(true);

    await stream.return(undefined);
    await expect.poll(sessions, { timeout: 5_000 }).toEqual([]);
  });

  it("leaves nothing behind when the caller breaks out of for await", async () => {
    const applicationName = `wh_test_break_${suffix}`;
    let seen = 0;
    for await (const page of streamQuery(URL_, `SELECT * FROM ${big}`, { ...opts, applicationName }, { pageSize: 100 })) {
      seen += page.rows.length;
      if (seen >= 300) break;
    }
    expect(seen).toBe(300);
    await expect
      .poll(() => admin(`SELECT pid FROM pg_stat_activity WHERE application_name = '${applicationName}'`), { timeout: 5_000 })
      .toEqual([]);
  });

  it("passes an error thrown in by the caller through unchanged, and still cleans up", async () => {
    const applicationName = `wh_test_throw_${suffix}`;
    const stream = streamQuery(URL_, `SELECT id FROM ${big}`, { ...opts, applicationName }, { pageSize: 10 });
    await stream.next();
    const mine = new Error("caller gave up");
    await expect(stream.throw(mine)).rejects.toBe(mine);
    await expect
      .poll(() => admin(`SELECT pid FROM pg_stat_activity WHERE application_name = '${applicationName}'`), { timeout: 5_000 })
      .toEqual([]);
  });
});
