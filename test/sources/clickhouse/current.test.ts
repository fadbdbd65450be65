import { describe, expect, inject, it } from "vitest";
import { openSource } from "../../../src/sources/registry";
import type { Source, WarehouseOptions } from "../../../src/sources/source";
import { uniqueName } from "../../harness/run";
import { warehouseError } from "./helpers";

/** What current ClickHouse releases answer and 18.16 cannot: against test/servers/clickhouse-current.ts. */

const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };
const base = `http://127.0.0.1:${inject("clickhouseCurrentPort")}`;

function open(name: string, password = "pw"): Source {
  return openSource("clickhouse", JSON.stringify({ url: `${base}/${name}/`, database: "analytics", username: "retl", password }), opts);
}

/** The extracted lines; with `many`, the handler also takes runs of lines at once (`lines`), as extraction's does. */
async function lines(source: Source, sql: string, many = false): Promise<string[]> {
  const out: string[] = [];
  const decoder = new TextDecoder();
  const line = (bytes: Uint8Array) => void out.push(decoder.decode(bytes));
  await source.extract(sql, {
    columns: (fields) => fields.map((f) => f.name),
    line,
    ...(many
      ? {
          lines: (bytes: Uint8Array) => {
            const split = decoder.decode(bytes).slice(0, -1).split("\n");
            for (const l of split) out.push(`${l}\n`);
            return split.length;
          },
        }
      : {}),
  });
  return out;
}

describe("ClickHouse source against a current release's answers", () => {
  it("sends max_execution_time, then readonly=1, and the database on every statement", async () => {
    const name = uniqueName("ch");
    expect(await open(name).test()).toMatchObject({ ok: true, server_version: "24.8.4.13" });
    await lines(open(name), "SELECT id, active FROM events");
    const requests = (await (await fetch(`${base}/${name}/_requests`)).json()) as Record<string, string>[];
    expect(requests).toHaveLength(3);
    for (const params of requests) {
      expect(params).toMatchObject({ database: "analytics", max_execution_time: "10", readonly: "1" });
      expect(Object.keys(params).indexOf("readonly")).toBe(Object.keys(params).length - 1);
    }
  });

  it("estimates with EXPLAIN ESTIMATE (the rows of every table read)", async () => {
    expect(await open(uniqueName("ch")).estimateRows("SELECT * FROM events JOIN users USING (id)")).toBe(1300);
  });

  it("reads Bool as true/false and passes rows through", async () => {
    const source = open(uniqueName("ch"));
    expect(await lines(source, "SELECT id, active FROM events")).toEqual(["1\ttrue\n", "2\tfalse\n", "3\ttrue\n"]);
    expect(await lines(source, "SELECT id, active FROM events", true)).toEqual(["1\ttrue\n", "2\tfalse\n", "3\ttrue\n"]);
    expect((await source.preview("SELECT id, active FROM events", 5)).rows).toEqual([
      { id: 1, active: true },
      { id: 2, active: false },
    ]);
  });

  it("reports auth failure (code 516, HTTP 403) as auth", async () => {
    const err = await warehouseError(open(uniqueName("ch"), "wrong").describe("SELECT 1"));
    expect([err.code, err.kind]).toEqual(["auth_failed", "auth"]);
  });

  it("fails a query whose exception follows rows already sent, plain or tagged, instead of taking it for a row", async () => {
    for (const many of [false, true]) {
      const plain = await warehouseError(lines(open(uniqueName("ch")), "SELECT id, active FROM events WHERE midstream", many));
      expect([plain.code, plain.kind]).toEqual(["timeout", "retryable"]);
      const tagged = await warehouseError(lines(open(uniqueName("ch")), "SELECT id, active FROM events WHERE tagged", many));
      expect(tagged.code).toBe("query_failed");
      expect(tagged.message).toContain("Memory limit");
    }
  });

  it("does not follow a redirect, which could lead past the SSRF guard", async () => {
    const err = await warehouseError(open("redirect").describe("SELECT 1"));
    expect(err.code).toBe("invalid_connection_string");
  });

  it("retries 503 after its Retry-After", async () => {
    expect(await lines(open(uniqueName("ch")), "SELECT id, active FROM events WHERE busy")).toHaveLength(3);
  });
});
