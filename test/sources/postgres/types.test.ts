import { describe, expect, it } from "vitest";
import { jsonValue } from "../../../src/sources/postgres/types";

describe("jsonValue", () => {
  it("normalises timestamps, arrays and special floats", () => {
    expect(jsonValue(1184, "2024-01-02 03:04:05+05:30")).toBe("2024-01-02T03:04:05+05:30");
    expect(jsonValue(1184, "2024-01-02 03:04:05-08")).toBe("2024-01-02T03:04:05-08:00");
    expect(jsonValue(1184, "infinity")).toBe("infinity");
    expect(jsonValue(1114, "0044-03-15 12:00:00 BC")).toBe("0044-03-15 12:00:00 BC");
    expect(jsonValue(1007, "{{1,2},{3,NULL}}")).toEqual([
      [1, 2],
      [3, null],
    ]);
    expect(jsonValue(1009, '[0:1]={"a \\"q\\"","NULL"}')).toEqual(['a "q"', "NULL"]);
    expect(jsonValue(1016, "{9007199254740993}")).toEqual(["9007199254740993"]);
    expect(jsonValue(701, "Infinity")).toBe("Infinity");
    expect(jsonValue(16, "f")).toBe(false);
    expect(jsonValue(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  });
});
