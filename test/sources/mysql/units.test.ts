import { describe, expect, it } from "vitest";
import { decodeRow } from "../../../src/engine/row";
import { parseConnectionString } from "../../../src/sources/mysql/connection-string";
import { PacketSplitter, PayloadReader } from "../../../src/sources/mysql/packets";
import { mysqlModelSql, selectFrom } from "../../../src/sources/mysql/sql-guard";
import { RowToCopy } from "../../../src/sources/mysql/text-row";
import { canonicalJson } from "../../../src/sources/canonical-json";

const encoder = new TextEncoder();

/** A text-protocol row packet: each value a length-encoded string, null as 0xFB. */
function rowPacket(values: (string | Uint8Array | null)[]): Uint8Array {
  const parts: number[] = [];
  for (const v of values) {
    if (v === null) {
      parts.push(0xfb);
      continue;
    }
    const bytes = typeof v === "string" ? encoder.encode(v) : v;
    if (bytes.length < 0xfb) parts.push(bytes.length);
    else if (bytes.length < 0x10000) parts.push(0xfc, bytes.length & 0xff, bytes.length >> 8);
    else parts.push(0xfd, bytes.length & 0xff, (bytes.length >> 8) & 0xff, bytes.length >> 16);
    parts.push(...bytes);
  }
  return Uint8Array.from(parts);
}

/** Packets of a payload as the server frames them (3-byte length, sequence id). */
function frame(payload: Uint8Array, seq: number): Uint8Array {
  const out = new Uint8Array(payload.length + 4);
  out.set([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, seq]);
  out.set(payload, 4);
  return out;
}

describe("MySQL text rows → COPY lines", () => {
  it("escapes text as COPY does, NULL as \\N, picks columns in the asked order (a column twice)", () => {
    const convert = new RowToCopy(["text", "text", "text"], [2, 0, 1, 0]);
    const line = convert.line(rowPacket(["a\tb\\c\n\r\b\f\v\0", null, ""]));
    const escaped = "a\\tb\\\\c\\n\\r\\b\\f\\v\\0";
    expect(new TextDecoder().decode(line)).toBe(`\t${escaped}\t\\N\t${escaped}\n`);
    expect(decodeRow(new TextDecoder().decode(line).slice(0, -1), 4)).toEqual(["", "a\tb\\c\n\r\b\f\v\0", null, "a\tb\\c\n\r\b\f\v\0"]);
  });

  it("reads 2- and 3-byte lengths; binary as bytea hex, BIT as its integer, JSON canonical", () => {
    const long = "x".repeat(70_000);
    const medium = "y".repeat(300);
    const convert = new RowToCopy(["text", "text", "binary", "bit", "json"], [0, 1, 2, 3, 4]);
    const line = new TextDecoder().decode(
      convert.line(rowPacket([long, medium, Uint8Array.of(0, 0xff, 0x0a), Uint8Array.of(0x01, 0x02), '{"b":1, "a":"\\u00e9"}'])),
    );
    expect(line).toBe(`${long}\t${medium}\t\\\\x00ff0a\t258\t{"a":"é","b":1}\n`);
    expect(decodeRow(line.slice(0, -1), 5)[2]).toBe("\\x00ff0a");
  });

  it("canonical JSON: sorted keys at every depth, no spaces, numbers as written, not-JSON undefined", () => {
    expect(canonicalJson('{ "b" : [ 1 , 2.50 , {"d":null,"c":true} ], "a" : "x\\ty" }')).toBe(
      '{"a":"x\\ty","b":[1,2.50,{"c":true,"d":null}]}',
    );
    expect(canonicalJson("12345678901234567890123")).toBe("12345678901234567890123");
    expect(canonicalJson('"\\u0041"')).toBe('"A"');
    expect(canonicalJson("[]")).toBe("[]");
    expect(canonicalJson("{}")).toBe("{}");
    expect(canonicalJson("{not json")).toBeUndefined();
    expect(canonicalJson('{"a":1} trailing')).toBeUndefined();
  });
});

describe("MySQL packets", () => {
  it("splits payloads across reads, and joins one split into 16 MiB packets", () => {
    const splitter = new PacketSplitter();
    const a = frame(Uint8Array.of(1, 2, 3), 0);
    const b = frame(Uint8Array.of(4), 1);
    const bytes = new Uint8Array([...a, ...b]);
    splitter.push(bytes.subarray(0, 5));
    expect(splitter.next()).toBeUndefined();
    splitter.detach();
    splitter.push(bytes.subarray(5));
    expect([...(splitter.next() ?? [])]).toEqual([1, 2, 3]);
    expect([...(splitter.next() ?? [])]).toEqual([4]);
    expect(splitter.seq).toBe(1);
    expect(splitter.next()).toBeUndefined();

    const big = new Uint8Array(0xffffff).fill(7);
    splitter.push(frame(big, 2));
    splitter.push(frame(Uint8Array.of(8, 9), 3));
    const whole = splitter.next();
    expect(whole?.length).toBe(0xffffff + 2);
    expect(whole?.[0xffffff + 1]).toBe(9);
  });

  it("reads length-encoded integers, NULL and strings", () => {
    const r = new PayloadReader(Uint8Array.of(0xfa, 0xfb, 0xfc, 0x34, 0x12, 0xfd, 1, 2, 3, 2, 0x68, 0x69));
    expect([r.lenenc(), r.lenenc(), r.lenenc(), r.lenenc(), r.lenencString()]).toEqual([0xfa, null, 0x1234, 0x030201, "hi"]);
  });
});

describe("MySQL connection strings and model SQL", () => {
  it("parses mysql:// URLs with TLS modes, and names what it refuses", () => {
    expect(parseConnectionString("mysql://u:p%40ss@db.example.com/shop")).toEqual({
      host: "db.example.com",
      port: 3306,
      user: "u",
      password: "p@ss",
      database: "shop",
      tls: "prefer",
    });
    expect(parseConnectionString("mysql://u@h:3307/d?ssl-mode=VERIFY_IDENTITY").tls).toBe("require");
    expect(parseConnectionString("mysql://u@h/d?sslmode=disable").tls).toBe("disable");
    expect(parseConnectionString("mysql://u@h/d?ssl=true").tls).toBe("require");
    expect(() => parseConnectionString("mysql://u@h/d?charset=utf8")).toThrow(/unknown connection string parameter "charset"/);
    expect(() => parseConnectionString("mysql://u@h/d?ssl-mode=maybe")).toThrow(/unsupported ssl-mode/);
    expect(() => parseConnectionString("mysql://h/d")).toThrow(/must name a user/);
    expect(() => parseConnectionString("postgres://u@h/d")).toThrow(/mysql:\/\//);
  });

  it("accepts queries, refuses writes (executable comments read as SQL), wraps the model as a derived table", () => {
    expect(mysqlModelSql(" /* c */ # line\n (SELECT 1);")).toBe("/* c */ # line\n (SELECT 1)");
    expect(mysqlModelSql("WITH x AS (SELECT 1) SELECT * FROM x")).toMatch(/^WITH/);
    expect(() => mysqlModelSql("/*!50000 INSERT INTO t */ SELECT 1")).toThrow(/INSERT statements are not allowed/);
    expect(() => mysqlModelSql("/*M! DELETE FROM t */")).toThrow(/DELETE/);
    expect(() => mysqlModelSql("SET @a = 1")).toThrow(/SET statements/);
    expect(() => mysqlModelSql("SHOW TABLES")).toThrow(/starting with SELECT, WITH, VALUES or TABLE, not SHOW/);
    expect(selectFrom("SELECT 1 AS `a``b` -- c", ["a`b"])).toBe("SELECT `a``b` FROM (\nSELECT 1 AS `a``b` -- c\n) AS model");
  });
});
