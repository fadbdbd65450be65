import { describe, expect, it } from "vitest";
import type { DestinationField } from "../../src/destinations/destination";
import { castFields, castValue } from "../../src/sync/cast";

const ok = (value: unknown) => ({ ok: true, value });

describe("castValue", () => {
  it("numbers and integers from numeric strings, keeping numbers and refusing the rest", () => {
    expect(castValue("42", "number")).toEqual(ok(42));
    expect(castValue(" -3.5e2 ", "number")).toEqual(ok(-350));
    expect(castValue(7.25, "number")).toEqual(ok(7.25));
    expect(castValue("42", "integer")).toEqual(ok(42));
    expect(castValue(true, "integer")).toEqual(ok(1));
    expect(castValue("4.2", "integer").ok).toBe(false);
    expect(castValue(4.2, "integer").ok).toBe(false);
    expect(castValue("forty", "number").ok).toBe(false);
    expect(castValue("", "number").ok).toBe(false);
    expect(castValue({ n: 1 }, "number").ok).toBe(false);
    expect(castValue("1e999", "number").ok).toBe(false);
  });

  it("an integer beyond 2^53 stays a string, never rounded", () => {
    expect(castValue("9007199254740993", "integer")).toEqual(ok("9007199254740993"));
  });

  it("booleans from the usual spellings", () => {
    for (const t of ["true", "TRUE", "1", "yes", "t", "on", 1, true]) expect(castValue(t, "boolean"), String(t)).toEqual(ok(true));
    for (const f of ["false", "0", "No", "off", 0, false]) expect(castValue(f, "boolean"), String(f)).toEqual(ok(false));
    expect(castValue("maybe", "boolean")).toEqual({ ok: false, error: "is not a boolean (true/false, yes/no, 1/0)" });
    expect(castValue(2, "boolean").ok).toBe(false);
  });

  it("dates to YYYY-MM-DD, datetimes to ISO 8601 in UTC", () => {
    expect(castValue("2024-02-29", "date")).toEqual(ok("2024-02-29"));
    expect(castValue("2024-02-30", "date")).toEqual({ ok: false, error: "is not a calendar date" });
    expect(castValue("2024-03-01T23:30:00-02:00", "date")).toEqual(ok("2024-03-02"));
    expect(castValue("03/01/2024", "date").ok).toBe(false);
    expect(castValue("2024-03-01", "datetime")).toEqual(ok("2024-03-01T00:00:00.000Z"));
    expect(castValue("2024-03-01 10:20:30", "datetime")).toEqual(ok("2024-03-01T10:20:30.000Z"));
    expect(castValue("2024-03-01T10:20:30.5+0130", "datetime")).toEqual(ok("2024-03-01T08:50:30.500Z"));
    expect(castValue("2024-03-01T10:20+05", "datetime")).toEqual(ok("2024-03-01T05:20:00.000Z"));
    expect(castValue(1709288430000, "datetime")).toEqual(ok("2024-03-01T10:20:30.000Z"));
    expect(castValue("yesterday", "datetime").ok).toBe(false);
    expect(castValue("2024-13-01T00:00:00Z", "datetime").ok).toBe(false);
  });

  it("json from a JSON string; objects and arrays as they are; strings from anything", () => {
    expect(castValue('{"tier":2}', "json")).toEqual(ok({ tier: 2 }));
    expect(castValue([1, 2], "json")).toEqual(ok([1, 2]));
    expect(castValue("{oops", "json")).toEqual({ ok: false, error: "is not JSON" });
    expect(castValue(42, "string")).toEqual(ok("42"));
    expect(castValue({ a: 1 }, "string")).toEqual(ok('{"a":1}'));
  });

  it("null stays null whatever the type", () => {
    for (const type of ["string", "number", "boolean", "date", "json"] as const) expect(castValue(null, type)).toEqual(ok(null));
  });
});

describe("castFields", () => {
  const described = new Map<string, DestinationField>(
    [
      { name: "Score__c", type: "number", required: false },
      { name: "Active__c", type: "boolean", required: false },
    ].map((f) => [f.name, f as DestinationField]),
  );

  it("casts the described fields and leaves the others as they are", () => {
    expect(castFields({ Score__c: "12.5", Active__c: "yes", Other: "42" }, described)).toEqual({
      ok: true,
      fields: { Score__c: 12.5, Active__c: true, Other: "42" },
    });
  });

  it("names the field, its type and the value that cannot be cast", () => {
    expect(castFields({ Score__c: "lots" }, described)).toEqual({ ok: false, error: 'field Score__c (number): "lots" is not a number' });
    const long = castFields({ Score__c: "x".repeat(500) }, described);
    expect(long.ok ? "" : long.error.length).toBeLessThan(200);
  });
});
