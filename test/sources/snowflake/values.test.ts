import { describe, expect, it } from "vitest";
import { jwtAccount } from "../../../src/sources/snowflake/auth";
import { canonicalizer, canonicalJson, jsonValue, TYPE, typeIdOf, typeNameOf } from "../../../src/sources/snowflake/values";

/** The SQL API's value encodings → canonical text (expected values computed with Python's datetime). */

const canon = (typeId: number, raw: string) => canonicalizer(typeId)(raw);

describe("Snowflake values", () => {
  it("reads DATE as days since the epoch", () => {
    expect(canon(TYPE.date, "19782")).toBe("2024-02-29");
    expect(canon(TYPE.date, "0")).toBe("1970-01-01");
    expect(canon(TYPE.date, "-1")).toBe("1969-12-31");
    expect(canon(TYPE.date, "-719162")).toBe("0001-01-01");
    expect(canon(TYPE.date, "11017")).toBe("2000-03-01");
    expect(canon(TYPE.date, "47540")).toBe("2100-02-28");
    expect(() => canon(TYPE.date, "2024-02-29")).toThrow(/not a DATE/);
  });

  it("reads TIME as seconds since midnight, fractions without trailing zeros", () => {
    expect(canon(TYPE.time, "82919.000000000")).toBe("23:01:59");
    expect(canon(TYPE.time, "0.500000000")).toBe("00:00:00.5");
    expect(canon(TYPE.time, "3723.000001")).toBe("01:02:03.000001");
    expect(() => canon(TYPE.time, "86400.0")).toThrow(/not a TIME/);
  });

  it("reads TIMESTAMP_NTZ/LTZ as epoch seconds and TIMESTAMP_TZ with its offset (+1440 minutes)", () => {
    expect(canon(TYPE.timestampNtz, "1616173619.000000000")).toBe("2021-03-19T17:06:59");
    expect(canon(TYPE.timestampLtz, "1616173619.123000000")).toBe("2021-03-19T17:06:59.123Z");
    expect(canon(TYPE.timestampNtz, "-0.500000000")).toBe("1969-12-31T23:59:59.5");
    expect(canon(TYPE.timestampNtz, "-1.000000000")).toBe("1969-12-31T23:59:59");
    // Snowflake's documented example: 960 - 1440 = -480 minutes.
    expect(canon(TYPE.timestampTz, "1616173619.000000000 960")).toBe("2021-03-19T09:06:59-08:00");
    expect(canon(TYPE.timestampTz, "1616173619.000000000 1770")).toBe("2021-03-19T22:36:59+05:30");
    expect(canon(TYPE.timestampTz, "1616173619 1440")).toBe("2021-03-19T17:06:59+00:00");
    expect(canon(TYPE.timestampTz, "-1.000000000 1500")).toBe("1970-01-01T00:59:59+01:00");
    expect(() => canon(TYPE.timestampTz, "1616173619.0")).toThrow(/TIMESTAMP_TZ/);
  });

  it("keeps FIXED exact, writes REAL as the double's shortest text, BOOLEAN as true/false", () => {
    expect(canon(TYPE.decimal, "-0.0001")).toBe("-0.0001");
    expect(canon(TYPE.integer, "99999999999999999999999999999999999999")).toBe("99999999999999999999999999999999999999");
    expect(canon(TYPE.real, "1.500000000000000e+300")).toBe("1.5e+300");
    expect(canon(TYPE.real, "0.1")).toBe("0.1");
    expect(canon(TYPE.real, "-0")).toBe("0");
    expect(canon(TYPE.real, "inf")).toBe("Infinity");
    expect(canon(TYPE.real, "-inf")).toBe("-Infinity");
    expect(canon(TYPE.real, "NaN")).toBe("NaN");
    expect(canon(TYPE.boolean, "true")).toBe("true");
    expect(canon(TYPE.boolean, "0")).toBe("false");
    expect(canon(TYPE.binary, "48656C6C6F")).toBe("48656c6c6f");
    expect(canon(TYPE.text, " as is\t")).toBe(" as is\t");
  });

  it("writes VARIANT/OBJECT/ARRAY as compact JSON with sorted keys and numbers as written", () => {
    const pretty = '{\n  "b": [\n    1,\n    2.50,\n    {"z": null, "a": "x\\ty"}\n  ],\n  "a": 12345678901234567890\n}';
    expect(canonicalJson(pretty)).toBe('{"a":12345678901234567890,"b":[1,2.50,{"a":"x\\ty","z":null}]}');
    expect(canonicalJson('{"b":1,"a":2}')).toBe(canonicalJson('{ "a": 2, "b": 1 }'));
    expect(canonicalJson('"\\u0041bc"')).toBe('"Abc"');
    expect(canonicalJson('{"k":"caf\\u00e9 \\"q\\"","\\u0062":1}')).toBe('{"b":1,"k":"café \\"q\\""}');
    expect(canonicalJson('"raw\ttab"')).toBe('"raw\\ttab"');
    expect(canonicalJson("[]")).toBe("[]");
    expect(canonicalJson("[NaN, undefined]")).toBe('["NaN","undefined"]');
    expect(() => canonicalJson('{"a":1')).toThrow(/not JSON/);
    expect(() => canonicalJson("[1] x")).toThrow(/not JSON/);
  });

  it("gives type ids and names from rowType, and JSON from canonical text", () => {
    expect(typeIdOf({ name: "N", type: "FIXED", scale: 0 })).toBe(TYPE.integer);
    expect(typeIdOf({ name: "N", type: "FIXED", scale: 2 })).toBe(TYPE.decimal);
    expect(typeNameOf({ name: "N", type: "FIXED", precision: 18, scale: 4 })).toBe("NUMBER(18,4)");
    expect(typeNameOf({ name: "S", type: "TEXT" })).toBe("VARCHAR");
    expect(jsonValue(TYPE.integer, "42")).toBe(42);
    expect(jsonValue(TYPE.integer, "99999999999999999999")).toBe("99999999999999999999");
    expect(jsonValue(TYPE.decimal, "1.50")).toBe("1.50");
    expect(jsonValue(TYPE.real, "Infinity")).toBe("Infinity");
    expect(jsonValue(TYPE.boolean, "false")).toBe(false);
    expect(jsonValue(TYPE.object, '{"a":[1]}')).toEqual({ a: [1] });
    expect(jsonValue(TYPE.text, null)).toBeNull();
  });

  it("names the account in the JWT without the region of an account locator", () => {
    expect(jwtAccount("xy12345.eu-central-1")).toBe("XY12345");
    expect(jwtAccount("xy12345.us-east-2.aws")).toBe("XY12345");
    expect(jwtAccount("myorg-myaccount")).toBe("MYORG-MYACCOUNT");
  });
});
