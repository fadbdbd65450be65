import { describe, expect, it } from "vitest";
import { loadHasher } from "../../src/engine/hash";
import { decodeRow, encodeRow, maxRowUtf8, utf16Length, writeRowUtf8, writeUtf8 } from "../../src/engine/row";

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
