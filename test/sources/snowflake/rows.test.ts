import { describe, expect, it } from "vitest";
import { streamRows } from "../../../src/sources/snowflake/rows";

/** The partition body reader: rows out of `{"data":[…]}` text however it is cut into chunks. */

const stream = (chunks: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });

async function rowsOf(chunks: Uint8Array[]): Promise<(string | null)[][]> {
  const rows: (string | null)[][] = [];
  const count = await streamRows(stream(chunks), (row) => void rows.push([...row]), 5000);
  expect(count).toBe(rows.length);
  return rows;
}

const DATA = [
  ["1", "plain", null],
  ["2", 'quote " back \\ tab \t nl \n é 😀', ""],
  ["3", "[not, an, array]", "null"],
];
// Other keys first, one of whose values is the string "data" and another an array.
const BODY = `{"code":"data","other":[["x"]],"data":${JSON.stringify(DATA, null, 1)},"tail":{"data":[["no"]]}}`;

describe("Snowflake partition rows", () => {
  it("reads the rows whatever the chunk boundaries (multi-byte characters and escapes cut too)", async () => {
    const bytes = new TextEncoder().encode(BODY);
    expect(await rowsOf([bytes])).toEqual(DATA);
    for (let cut = 1; cut < bytes.length; cut += 3) {
      expect(await rowsOf([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toEqual(DATA);
    }
    expect(await rowsOf([...bytes].map((b) => new Uint8Array([b])))).toEqual(DATA);
  });

  it("decompresses a gzip body that fetch did not decode", async () => {
    const gzipped = new Uint8Array(await new Response(new Blob([BODY]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
    expect(await rowsOf([gzipped.subarray(0, 10), gzipped.subarray(10)])).toEqual(DATA);
  });

  it("stops when the handler says so, and refuses a cut-off or malformed body", async () => {
    const seen: string[] = [];
    const count = await streamRows(
      stream([new TextEncoder().encode(BODY)]),
      (row) => (seen.push(row[0] ?? "") < 2 ? undefined : false),
      5000,
    );
    expect([count, seen]).toEqual([2, ["1", "2"]]);
    const cut = new TextEncoder().encode(BODY.slice(0, 60));
    await expect(rowsOf([cut])).rejects.toMatchObject({ code: "connection_lost" });
    await expect(rowsOf([new TextEncoder().encode('{"data":[["1",2]]}')])).rejects.toMatchObject({ code: "connection_lost" });
    await expect(rowsOf([new TextEncoder().encode('{"data":[[["nested"]]]}')])).rejects.toMatchObject({ code: "connection_lost" });
  });
});
