import { describe, expect, it } from "vitest";
import {
  batchLogName,
  decodeCursor,
  decodeEntries,
  encodeCursor,
  encodeEntries,
  matches,
  plannedEntries,
  settledEntries,
} from "../../src/run-log/entry";

describe("run log entries", () => {
  it("names a batch's log object so plan order sorts as text, splits included", () => {
    const run = "run_01abc";
    expect(batchLogName(run, `${run}.3.250`)).toEqual({ partition: 3, name: "0000000250" });
    expect(batchLogName(run, `${run}.0.7-0-1`)).toEqual({ partition: 0, name: "0000000007-0-1" });
    // Plan order: 7 < 7's halves in order < 250.
    const names = [`${run}.0.250`, `${run}.0.7-1`, `${run}.0.7-0-1`, `${run}.0.7-0-0`, `${run}.0.30`].map(
      (b) => batchLogName(run, b)?.name ?? "",
    );
    expect([...names].sort()).toEqual(["0000000007-0-0", "0000000007-0-1", "0000000007-1", "0000000030", "0000000250"]);
    // Another run's batch, or no batch id at all, is not logged under this run.
    expect(batchLogName(run, "run_other.0.0")).toBeNull();
    expect(batchLogName(run, `${run}.x.0`)).toBeNull();
  });

  it("round-trips cursors and refuses anything else", () => {
    const cursor = { object: "run-logs/syn_1/run_1/p0000/0000000000.ndjson", skip: 3 };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    for (const bad of ["", "not-a-cursor", btoa("[1,2]"), btoa('["x",-1]'), btoa('{"object":"x"}')]) expect(decodeCursor(bad)).toBeNull();
  });

  it("gives each operation of a settled batch its row's result and the batch's last response", () => {
    const ops = [
      { op: "create" as const, key: "1", fields: { a: 1 } },
      { op: "create" as const, key: "2", fields: { a: 2 } },
      { op: "delete" as const, key: "3", fields: {} },
    ];
    const entries = settledEntries(
      ops,
      [
        { key: "1", ok: true },
        { key: "2", ok: false, error: "bad email" },
      ],
      {
        batchId: "run_1.0.0",
        attempts: 2,
        response: { status: 200, body: "x".repeat(600) },
        at: "2026-01-01T00:00:00.000Z",
      },
    );
    expect(entries.map((e) => [e.key, e.status, e.error])).toEqual([
      ["1", "succeeded", null],
      ["2", "failed", "bad email"],
      ["3", "failed", "the destination reported no result for this row"],
    ]);
    expect(entries[0]).toMatchObject({ destination_status: 200, attempts: 2, batch_id: "run_1.0.0", fields: { a: 1 } });
    expect(entries[0]?.response).toHaveLength(501);
    expect(decodeEntries(`${encodeEntries(entries)}\n{torn`)).toEqual(entries);
    expect(entries.filter((e) => matches(e, { status: "failed", op: "create" })).map((e) => e.key)).toEqual(["2"]);
    expect(plannedEntries(ops, "run_2.0.0", "t").every((e) => e.status === "planned" && e.attempts === 0)).toBe(true);
  });
});
