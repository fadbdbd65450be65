import { describe, expect, it } from "vitest";
import { loadHasher } from "../../src/engine/hash";
import { decodeRow, encodeRow, maxRowUtf8, writeRowUtf8, writeUtf8 } from "../../src/engine/row";

describe("hash", () => {
  it("loads xxhash-wasm inside workerd, where wasm cannot be compiled from bytes", async () => {
    // The package's workerd build imports its .wasm as a module; the generic build would fail here.
    await expect(WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))).rejects.toThrow(/disallowed/);
    const h = await loadHasher();
    // Reference XXH64 values (seed 0).
    expect(h.hashKey("a")).toBe(0xd24ec4f1a98c6e5bn);
    expect(h.hashKey("")).toBe(0xef46db3751d8e999n);
    expect(await loadHasher()).toBe(h);
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
    const distinct: (string | null)[][] = [
      [],
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
    expect(encodeRow(["a", null, ""])).toBe("1:a~0:");
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

describe("row text form", () => {
  it("decodes what it encodes", () => {
    const rows: (string | null)[][] = [[], [null], [""], ["a", "bc", null, "", "日本😀", "12:34", "~", "\uFEFF"]];
    for (const r of rows) {
      const text = `xx${encodeRow(r)}yy`;
      expect(decodeRow(text, 2, text.length - 2, r.length)).toEqual(r);
    }
    expect(() => decodeRow("1:a", 0, 3, 2)).toThrow();
    expect(() => decodeRow("5:a", 0, 3, 1)).toThrow();
    expect(() => decodeRow("1:ab", 0, 4, 1)).toThrow();
  });

  it("writes the same UTF-8 as TextEncoder, without building strings", () => {
    const te = new TextEncoder();
    const samples = ["", "a", "é", "€", "😀", "a😀b", "\uD83D", "\uDE00", "x\uD83Dy", "\uDE00\uD83D", "\u0000", "\uFFFF", "日本語", "\u07FF\u0800"];
    for (const s of samples) {
      const buf = new Uint8Array(3 * s.length + 4);
      expect(buf.subarray(0, writeUtf8(s, buf, 0))).toEqual(te.encode(s));
    }
    const lengths = [0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 99999, 100000, 123456];
    const values = [...samples, null, ...lengths.map((n) => "z".repeat(n))];
    const buf = new Uint8Array(maxRowUtf8(values));
    expect(buf.subarray(0, writeRowUtf8(values, buf, 0))).toEqual(te.encode(encodeRow(values)));
  });
});
