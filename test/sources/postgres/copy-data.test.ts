import { describe, expect, it } from "vitest";
import { encodeRow } from "../../../src/engine/row";
import { copyDataSplitter, dataRowSplitter, type PayloadSink } from "../../../src/sources/postgres/copy-data";

const te = new TextEncoder();
const td = new TextDecoder();

/** One backend message: type byte, int32 length (itself included), payload. */
function message(type: string, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + payload.length);
  out.set(payload, 5);
  return out;
}

/** A sink pushing each payload, decoded, to `seen`, and each call's count to `calls`. */
function collect(seen: string[], calls: number[] = []): PayloadSink {
  return (buf, starts, ends, count) => {
    calls.push(count);
    for (let i = 0; i < count; i++) seen.push(td.decode(buf.subarray(starts[i], ends[i])));
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const rows = ["1\tada@example.com\n", "2\t\\N\n", `3\t${"x".repeat(3000)}\n`, "4\tzoë ✓ 😀\n", "5\t\n"];
const before = [message("1"), message("2"), message("H", new Uint8Array([0, 0, 2, 0, 0, 0, 0]))];
const notice = message("N", te.encode("Snotice\0\0"));
const after = [message("c"), message("C", te.encode("COPY 5\0")), message("Z", te.encode("I"))];
const next = message("T", new Uint8Array([0, 0])); // bytes of a later query, for the driver
const stream = concat([
  ...before,
  message("d", te.encode(rows[0] ?? "")),
  notice,
  ...rows.slice(1).map((r) => message("d", te.encode(r))),
  ...after,
  next,
]);
const forwarded = concat([...before, notice, ...after, next]);

/**
 * Feeds `chunks` and returns the rows taken out and the bytes passed on. With `reuse`, every chunk
 * is fed from one buffer that is overwritten after each call, as the socket reader does.
 */
function split(chunks: Uint8Array[], reuse = false) {
  const seen: string[] = [];
  const splitter = copyDataSplitter(collect(seen));
  const out: Uint8Array[] = [];
  const buffer = new Uint8Array(Math.max(0, ...chunks.map((c) => c.length)));
  for (const c of chunks) {
    let chunk = c;
    if (reuse) {
      buffer.set(c);
      chunk = buffer.subarray(0, c.length);
    }
    const passed = splitter.feed(chunk);
    if (passed) out.push(passed.slice());
    if (reuse) buffer.fill(0xff);
  }
  return { seen, passed: concat(out), done: splitter.done };
}

describe("copyDataSplitter", () => {
  it("takes out the rows and passes every other message on, in order, however the bytes are cut", () => {
    const whole = split([stream]);
    expect(whole).toEqual({ seen: rows, passed: forwarded, done: true });
    for (let cut = 1; cut < stream.length; cut++) {
      const two = split([stream.subarray(0, cut), stream.subarray(cut)]);
      expect(two.seen, `cut at ${cut}`).toEqual(rows);
      expect(two.passed, `cut at ${cut}`).toEqual(forwarded);
    }
    const bytes = split(Array.from(stream, (b) => new Uint8Array([b])));
    expect(bytes).toEqual({ seen: rows, passed: forwarded, done: true });
  });

  it("keeps nothing of a chunk after feeding it: the reader reuses its buffer", () => {
    const bytes = split(
      Array.from(stream, (b) => new Uint8Array([b])),
      true,
    );
    expect(bytes).toEqual({ seen: rows, passed: forwarded, done: true });
    for (const size of [2, 3, 7, 64, 1000]) {
      const chunks = Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => stream.subarray(i * size, (i + 1) * size));
      expect(split(chunks, true), `chunks of ${size} bytes`).toEqual({ seen: rows, passed: forwarded, done: true });
    }
  });

  it("passes everything on untouched once ReadyForQuery has gone by", () => {
    const splitter = copyDataSplitter(() => {
      throw new Error("no rows expected");
    });
    expect(splitter.feed(concat(after))).toEqual(concat(after));
    const later = message("d", te.encode("not a COPY row any more"));
    expect(splitter.feed(later)).toBe(later);
  });

  it("passes on an error in the middle of the rows", () => {
    const error = message("E", te.encode("SERROR\0C22012\0Mdivision by zero\0\0"));
    const out = split([concat([...before, message("d", te.encode("1\n")), error, message("Z", te.encode("I"))])]);
    expect(out).toEqual({ seen: ["1\n"], passed: concat([...before, error, message("Z", te.encode("I"))]), done: true });
  });
});

/** A DataRow of text values (null as length -1). */
function dataRow(values: (string | null)[]): Uint8Array {
  const parts = values.map((v) => (v === null ? null : te.encode(v)));
  const payload = new Uint8Array(2 + parts.reduce((n, p) => n + 4 + (p?.length ?? 0), 0));
  const view = new DataView(payload.buffer);
  view.setInt16(0, values.length);
  let at = 2;
  for (const p of parts) {
    view.setInt32(at, p === null ? -1 : p.length);
    at += 4;
    if (p) payload.set(p, at);
    at += p?.length ?? 0;
  }
  return message("D", payload);
}

describe("copyDataSplitter batches", () => {
  it("hands a read buffer's rows over in one call, before the messages after them reach the driver", () => {
    const many = Array.from({ length: 2500 }, (_, i) => `${i}\tv${i}\n`);
    const bytes = concat([...before, ...many.map((r) => message("d", te.encode(r))), notice, ...after]);
    const seen: string[] = [];
    const calls: number[] = [];
    const order: string[] = [];
    const sink = collect(seen, calls);
    const splitter = copyDataSplitter((buf, starts, ends, count) => {
      order.push("rows");
      sink(buf, starts, ends, count);
    });
    const passed = splitter.feed(bytes);
    order.push("driver");
    expect(seen).toEqual(many);
    // At most 1024 a call: the sink's arrays are the splitter's, of a fixed size.
    expect(calls).toEqual([1024, 1024, 452]);
    expect(order).toEqual(["rows", "rows", "rows", "driver"]);
    expect(passed).toEqual(concat([...before, notice, ...after]));
  });
});

describe("dataRowSplitter", () => {
  it("turns each DataRow into the line COPY would send for it, however the bytes are cut", () => {
    const rowsOfValues: (string | null)[][] = [
      ["1", "ada@example.com"],
      ["2", null],
      ["3", "tab\there\nnew line \\ back\r\b\f\v end"],
      ["4", "zoë ✓ 😀"],
      ["5", ""],
      [],
      ["6", "x".repeat(5000)],
    ];
    const head = message("T", new Uint8Array([0, 0]));
    const tail = [message("C", te.encode("FETCH 7\0")), message("Z", te.encode("I"))];
    const bytes = concat([head, ...rowsOfValues.map(dataRow), ...tail]);
    for (const size of [1, 5, 64, 4096, bytes.length]) {
      const seen: string[] = [];
      const splitter = dataRowSplitter(collect(seen));
      const passed: Uint8Array[] = [];
      for (let at = 0; at < bytes.length; at += size) {
        const out = splitter.feed(bytes.slice(at, at + size));
        if (out) passed.push(out.slice());
      }
      expect(seen, `chunks of ${size}`).toEqual(rowsOfValues.map((values) => `${encodeRow(values)}\n`));
      expect(concat(passed), `chunks of ${size}`).toEqual(concat([head, ...tail]));
      expect(splitter.done).toBe(true);
    }
  });
});
