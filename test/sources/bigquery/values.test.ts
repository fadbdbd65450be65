import { describe, expect, it } from "vitest";
import type { TableField } from "../../../src/sources/bigquery/api";
import { cellText, jsonValue, typeId, typeName } from "../../../src/sources/bigquery/values";

/** BigQuery's cell values → canonical text → JSON (src/sources/bigquery/values.ts), on the API's documented spellings. */

const field = (type: string, extra: Partial<TableField> = {}): TableField => ({ name: "x", type, ...extra });

describe("BigQuery canonical values", () => {
  it("reads TIMESTAMP as int64 microseconds or as float seconds to the same text, exactly", () => {
    const ts = field("TIMESTAMP");
    expect(cellText(ts, "1704164645123456")).toBe("2024-01-02T03:04:05.123456Z");
    expect(cellText(ts, "1.704164645123456E9")).toBe("2024-01-02T03:04:05.123456Z");
    expect(cellText(ts, "1704164645.123456")).toBe("2024-01-02T03:04:05.123456Z");
    expect(cellText(ts, "0")).toBe("1970-01-01T00:00:00Z");
    expect(cellText(ts, "-1")).toBe("1969-12-31T23:59:59.999999Z");
    expect(cellText(ts, "-1.0E-6")).toBe("1969-12-31T23:59:59.999999Z");
    expect(cellText(ts, "-62135596800000000")).toBe("0001-01-01T00:00:00Z");
    expect(cellText(ts, "253402300799999999")).toBe("9999-12-31T23:59:59.999999Z");
  });

  it("writes one text per FLOAT64, NUMERIC, BOOL and BYTES value whatever the spelling", () => {
    const float = field("FLOAT");
    expect(["1.5E300", "1.5e+300", "15E299"].map((v) => cellText(float, v))).toEqual(["1.5e+300", "1.5e+300", "1.5e+300"]);
    expect(["NaN", "Infinity", "-Infinity", "-0", "0.1"].map((v) => cellText(float, v))).toEqual([
      "NaN",
      "Infinity",
      "-Infinity",
      "-0",
      "0.1",
    ]);
    const numeric = field("BIGNUMERIC");
    expect(["1.2500", "1.25", "10", "-0.000100"].map((v) => cellText(numeric, v))).toEqual(["1.25", "1.25", "10", "-0.0001"]);
    expect(cellText(numeric, "578960446186580977117854925043439539266.34992332820282019728792003956564819967")).toBe(
      "578960446186580977117854925043439539266.34992332820282019728792003956564819967",
    );
    expect([cellText(field("BOOLEAN"), "true"), cellText(field("BOOL"), "false")]).toEqual(["true", "false"]);
    // Standard and URL-safe base64 of the same bytes.
    expect([cellText(field("BYTES"), "+/8="), cellText(field("BYTES"), "-_8=")]).toEqual(["\\xfbff", "\\xfbff"]);
  });

  it("sorts JSON keys and drops whitespace, keeping number literals exactly", () => {
    expect(cellText(field("JSON"), '{ "b": 1, "a": {"d": [1, 2.50], "c": 12345678901234567890} }')).toBe(
      '{"a":{"c":12345678901234567890,"d":[1,2.50]},"b":1}',
    );
    expect(cellText(field("JSON"), '{"a":1,')).toBe('{"a":1,');
    expect(cellText(field("JSON"), '"\\u00e9"')).toBe('"é"');
  });

  it("turns the API's f/v nesting into JSON: arrays, structs, arrays of structs, NULL arrays as []", () => {
    const struct = field("RECORD", {
      fields: [
        { name: "id", type: "INTEGER" },
        { name: "tags", type: "STRING", mode: "REPEATED" },
        { name: "at", type: "TIMESTAMP" },
        { name: "big", type: "INTEGER" },
      ],
    });
    const value = { f: [{ v: "7" }, { v: [{ v: "a" }, { v: "b\tc" }] }, { v: "1704164645000000" }, { v: "9007199254740993" }] };
    const text = cellText(struct, value);
    expect(text).toBe('{"id":7,"tags":["a","b\\tc"],"at":"2024-01-02T03:04:05Z","big":"9007199254740993"}');
    expect(jsonValue(typeId(struct), text)).toEqual({ id: 7, tags: ["a", "b\tc"], at: "2024-01-02T03:04:05Z", big: "9007199254740993" });
    const array = { ...struct, mode: "REPEATED" as const };
    expect(cellText(array, [{ v: value }, { v: null }])).toBe(`[${text},null]`);
    expect(cellText(array, null)).toBe("[]");
    expect(cellText(struct, null)).toBeNull();
    expect(typeName(array)).toBe("ARRAY<STRUCT<id INT64, tags ARRAY<STRING>, at TIMESTAMP, big INT64>>");
  });

  it("gives JSON per type: safe INT64 as numbers, others as strings; finite floats as numbers", () => {
    const int = typeId(field("INTEGER"));
    const float = typeId(field("FLOAT64"));
    expect([jsonValue(int, "42"), jsonValue(int, "-9007199254740993"), jsonValue(int, null)]).toEqual([42, "-9007199254740993", null]);
    expect([jsonValue(float, "0.1"), jsonValue(float, "NaN"), jsonValue(float, "-Infinity")]).toEqual([0.1, "NaN", "-Infinity"]);
    expect(jsonValue(typeId(field("NUMERIC")), "0.1")).toBe("0.1");
    expect(jsonValue(typeId(field("BOOL")), "true")).toBe(true);
    expect(jsonValue(typeId(field("JSON")), '{"a":[1]}')).toEqual({ a: [1] });
    expect(jsonValue(typeId(field("GEOGRAPHY")), "POINT(1 2)")).toBe("POINT(1 2)");
  });
});
