import xxhash from "xxhash-wasm";
import { describe, expect, it } from "vitest";
import { LINE_BATCH_ROWS, type LineBatch, loadHasher } from "../../src/engine/hash";
import { decodeRow, encodeRow, maxRowUtf8, utf16Length, writeRowUtf8, writeUtf8 } from "../../src/engine/row";

describe("hash", () => {
  it("loads its wasm module inside workerd, where wasm cannot be compiled from bytes", async () => {
    // The module is imported as a compiled WebAssembly.Module (wrangler's CompiledWasm rule).
    await expect(WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))).rejects.toThrow(/disallowed/);
    const h = await loadHasher();
    // Reference XXH64 values (seed 0).
    expect(h.hashKey("a")).toBe(0xd24ec4f1a98c6e5bn);
    expect(h.hashKey("")).toBe(0xef46db3751d8e999n);
    expect(await loadHasher()).toBe(h);
  });

  // Hashes are persisted in snapshots: ours must stay bit-identical to xxhash-wasm's (the library
  // the snapshots were first written with) for every length, seed and alignment.
  const SEEDS = [0n, 0x9e3779b97f4a7c15n, 0xffffffffffffffffn, 1n << 63n];
  const random = (length: number): Uint8Array => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
    return out;
  };
  const LENGTHS = [...Array.from({ length: 101 }, (_, i) => i), 127, 128, 129, 1000, 4099, 65_536, 65_537, 1_000_003];

  it("computes xxhash-wasm's XXH64 and XXH32 for all lengths 0..100 and long inputs", async () => {
    const ref = await xxhash();
    const h = await loadHasher();
    for (const length of LENGTHS) {
      for (let round = 0; round < (length <= 100 ? 8 : 2); round++) {
        // A view at an odd offset too: the module copies its input, whatever the alignment.
        const bytes = random(length + 3).subarray(round % 4, (round % 4) + length);
        const seed = [...SEEDS, ref.h64Raw(random(8))][round % 5] ?? 0n;
        expect(h.hashKeyBytes(bytes)).toBe(ref.h64Raw(bytes, 0n));
        expect(h.hashEncodedRow(bytes)).toBe(ref.h64Raw(bytes, 0x9e3779b97f4a7c15n));
        expect(h.hashEncodedRow(bytes, seed)).toBe(ref.h64Raw(bytes, seed));
        expect(h.hashField(bytes)).toBe(ref.h32Raw(bytes, 0x85ebca6b) || 1);
      }
    }
    for (const text of ["", "a", "é😀", "日本語".repeat(50), "x".repeat(100_000)]) {
      expect(h.hashKey(text)).toBe(ref.h64(text, 0n));
      expect(h.hashRow([text, null])).toBe(ref.h64(`${text}\t\\N`, 0x9e3779b97f4a7c15n));
    }
    expect(h.mappingSeed(["email", "name"])).toBe(ref.h64("email\tname", 0x9e3779b97f4a7c15n));
  });

  it("hashes a batch of lines like one call per key and per row", async () => {
    const ref = await xxhash();
    const h = await loadHasher();
    const batch: LineBatch = {
      keyFrom: new Int32Array(LINE_BATCH_ROWS),
      keyTo: new Int32Array(LINE_BATCH_ROWS),
      valuesFrom: new Int32Array(LINE_BATCH_ROWS),
      valuesTo: new Int32Array(LINE_BATCH_ROWS),
      keyWords: new Uint32Array(2 * LINE_BATCH_ROWS),
      rowWords: new Uint32Array(2 * LINE_BATCH_ROWS),
    };
    const words = (w: Uint32Array, i: number) => (BigInt(w[2 * i + 1] ?? 0) << 32n) | BigInt(w[2 * i] ?? 0);
    // Batches of 1..256 rows of random lengths (long rows now and then: the wasm memory grows
    // mid-way), starting anywhere in the buffer, after single calls of other sizes.
    for (const count of [1, 2, 7, 100, LINE_BATCH_ROWS, LINE_BATCH_ROWS, 33]) {
      const lengths = Array.from({ length: count }, () => {
        const long = Math.random() < 0.02;
        return [Math.floor(Math.random() * (long ? 5000 : 40)), Math.floor(Math.random() * (long ? 300_000 : 200))] as const;
      });
      const lead = Math.floor(Math.random() * 100);
      const lines = random(lead + lengths.reduce((sum, [k, v]) => sum + k + v + 2, 0));
      let at = lead;
      lengths.forEach(([k, v], i) => {
        batch.keyFrom[i] = at;
        batch.keyTo[i] = at + k;
        batch.valuesFrom[i] = at + k + 1;
        batch.valuesTo[i] = at + k + 1 + v;
        at += k + v + 2;
      });
      const seed = SEEDS[count % SEEDS.length];
      h.hashKeyBytes(random(count * 1000));
      h.hashLines(lines, batch, count, seed);
      for (let i = 0; i < count; i++) {
        const key = lines.subarray(batch.keyFrom[i], batch.keyTo[i]);
        const values = lines.subarray(batch.valuesFrom[i], batch.valuesTo[i]);
        expect(words(batch.keyWords, i)).toBe(ref.h64Raw(key, 0n));
        expect(words(batch.rowWords, i)).toBe(ref.h64Raw(values, seed));
      }
    }
    expect(() => h.hashLines(new Uint8Array(0), batch, LINE_BATCH_ROWS + 1)).toThrow(/at most 256/);
  });

  it("hashes a row's fields in one call like one XXH32 per value", async () => {
    const ref = await xxhash();
    const h = await loadHasher();
    for (const length of [0, 1, 5, 17, 100, 1000, 70_000]) {
      for (let round = 0; round < 20; round++) {
        // Random bytes with tabs sprinkled in (a raw tab separates values), empty values included.
        const row = random(length).map((b) => (b < 24 ? 9 : b));
        const values: Uint8Array[] = [];
        let start = 0;
        for (let i = 0; i <= row.length; i++) {
          if (i < row.length && row[i] !== 9) continue;
          values.push(row.subarray(start, i));
          start = i + 1;
        }
        const out = new Uint32Array(values.length + 3).fill(7);
        expect(h.hashFields(row, values.length, out, 2)).toBe(values.length);
        expect([...out.subarray(2, 2 + values.length)]).toEqual(values.map((v) => ref.h32Raw(v, 0x85ebca6b) || 1));
        expect([out[0], out[1], out[values.length + 2]]).toEqual([7, 7, 7]);
        // Fewer asked than there are: only those written, all counted.
        if (values.length > 1) {
          const few = new Uint32Array(1);
          expect(h.hashFields(row, 1, few, 0)).toBe(values.length);
          expect(few[0]).toBe(out[2]);
        }
      }
    }
  });

  it("hashes keys to 64 bits and distinguishes them", async () => {
    const h = await loadHasher();
    const seen = new Set<bigint>();
    for (let i = 0; i < 10_000; i++) {
      const v = h.hashKey(`user-${i}`);
      expect(v >= 0n && v < 1n << 64n).toBe(true);
      seen.add(v);
    }
    expect(seen.size).toBe(10_000);
    expect(h.hashKey("é")).toBe(h.hashKey("\u00e9"));
    expect(h.hashKey("é")).not.toBe(h.hashKey("e\u0301"));
  });

  it("hashes rows so that null, empty and boundaries all count", async () => {
    const h = await loadHasher();
    // Rows of one sync all have the mapping's arity; [] and [""] share a text (""), which never matters.
    const distinct: (string | null)[][] = [
      [""],
      [null],
      ["~"],
      ["", ""],
      [null, null],
      ["", null],
      [null, ""],
      ["a", "bc"],
      ["ab", "c"],
      ["abc"],
      ["1:a"],
      ["a", "1:a"],
      ["a"],
      ["a", null],
      ["1"],
      [" 1"],
    ];
    const hashes = distinct.map((r) => h.hashRow(r));
    expect(new Set(hashes).size).toBe(distinct.length);
    expect(h.hashRow(["a", "bc"])).toBe(h.hashRow(["a", "bc"]));
    expect(encodeRow(["a", null, ""])).toBe("a\t\\N\t");
    // The chunk builder hashes the values' UTF-8 as it writes it: same value.
    const text = encodeRow(["é😀", "x", null]);
    expect(h.hashEncodedRow(new TextEncoder().encode(text))).toBe(h.hashRow(["é😀", "x", null]));
  });

  it("mixes the mapping into row hashes", async () => {
    const h = await loadHasher();
    const s1 = h.mappingSeed(["email", "name"]);
    const s2 = h.mappingSeed(["email", "full_name"]);
    expect(s1).not.toBe(s2);
    expect(h.hashRow(["x", "y"], s1)).not.toBe(h.hashRow(["x", "y"], s2));
    expect(h.hashRow(["x", "y"], s1)).toBe(h.hashRow(["x", "y"], h.mappingSeed(["email", "name"])));
  });
});

describe("row text form (COPY text)", () => {
  it("encodes like Postgres COPY and decodes back", () => {
    expect(encodeRow(["a", null, "", "tab\there", "back\\slash", "nl\nline", "\\N"])).toBe(
      "a\t\\N\t\ttab\\there\tback\\\\slash\tnl\\nline\t\\\\N",
    );
    const rows: (string | null)[][] = [[], [null], [""], ["a", "bc", null, "", "日本😀", "\b\f\v\r\n\t\\", "\\N", "\uFEFF"]];
    for (const r of rows) expect(decodeRow(encodeRow(r), r.length)).toEqual(r);
    expect(decodeRow("\\101\\x42c", 1)).toEqual(["ABc"]);
    expect(() => decodeRow("a\tb", 1)).toThrow(/2 values/);
  });

  it("writes the same UTF-8 as TextEncoder, without building strings", () => {
    const te = new TextEncoder();
    const samples = [
      "",
      "a",
      "é",
      "€",
      "😀",
      "a😀b",
      "\uD83D",
      "\uDE00",
      "x\uD83Dy",
      "\uDE00\uD83D",
      "\u0000",
      "\uFFFF",
      "日本語",
      "\u07FF\u0800",
    ];
    for (const s of samples) {
      const buf = new Uint8Array(3 * s.length + 4);
      const end = writeUtf8(s, buf, 0);
      expect(buf.subarray(0, end)).toEqual(te.encode(s));
      expect(utf16Length(buf.subarray(0, end))).toBe(new TextDecoder().decode(buf.subarray(0, end)).length);
    }
    const values = [...samples, null, "\t\n\\", "x".repeat(1000)];
    const buf = new Uint8Array(maxRowUtf8(values));
    expect(buf.subarray(0, writeRowUtf8(values, buf, 0))).toEqual(te.encode(encodeRow(values)));
  });
});
