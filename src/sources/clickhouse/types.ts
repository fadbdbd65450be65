import type { JsonValue } from "../source";

/**
 * ClickHouse result types. ClickHouse names its types (`Nullable(Array(Int32))`), while a
 * {@link SourceField.typeId} is a number: this plug-in's own id space (not Postgres OIDs), a base
 * id per scalar type family plus 1000 per level of `Array(…)`. `Nullable(…)` and
 * `LowCardinality(…)` do not change the id (nullness is in the value). The full name stays the
 * field's `type`.
 */

const BASE = {
  text: 0, // String, FixedString, UUID, Enum, IPv4/6, Tuple, Map, anything else: the text as is
  int: 1, // Int8/16/32, UInt8/16/32 (UInt8 too: ClickHouse before 22.x has no Bool)
  bigint: 2, // Int64/128/256, UInt64/128/256: strings, as Postgres' int8 (no precision loss)
  float: 3, // Float32/64: numbers when finite, else "inf", "-inf", "nan"
  decimal: 4, // Decimal(P, S): strings, as written
  date: 5, // Date, Date32: YYYY-MM-DD
  datetime: 6, // DateTime, DateTime64 without a zone: ISO without an offset (the server's zone)
  datetimeUtc: 7, // DateTime('UTC'), DateTime64(n, 'UTC'): ISO with Z
  bool: 8, // Bool (current releases): true/false
  nothing: 9, // Nothing (a bare NULL)
} as const;
const ARRAY = 1000;

/** The id of a ClickHouse type name (see the module comment). */
export function clickhouseTypeId(name: string): number {
  let type = name.trim();
  let depth = 0;
  for (;;) {
    const wrapper = /^(Nullable|LowCardinality|Array)\((.*)\)$/s.exec(type);
    if (!wrapper) break;
    if (wrapper[1] === "Array") depth++;
    type = wrapper[2] ?? "";
  }
  return depth * ARRAY + baseId(type);
}

function baseId(type: string): number {
  if (/^U?Int(8|16|32)$/.test(type)) return BASE.int;
  if (/^U?Int(64|128|256)$/.test(type)) return BASE.bigint;
  if (/^(Float32|Float64)$/.test(type)) return BASE.float;
  if (/^Decimal(32|64|128|256)?\(/.test(type)) return BASE.decimal;
  if (/^Date(32)?$/.test(type)) return BASE.date;
  if (/^DateTime(64)?(\(.*\))?$/.test(type)) return /'(UTC|Etc\/UTC|GMT|Zulu)'/.test(type) ? BASE.datetimeUtc : BASE.datetime;
  if (type === "Bool") return BASE.bool;
  if (type === "Nothing") return BASE.nothing;
  return BASE.text;
}

/** Whether a type's TSV text is a literal (`[1,'a']`, `(1,'a')`, `{'k':1}`) rather than an escaped value. */
export function isCompositeType(name: string): boolean {
  const inner = name.replace(/^(Nullable|LowCardinality)\((.*)\)$/s, "$2");
  return /^(Array|Tuple|Map|Nested)\(/.test(inner);
}

/**
 * One value (its canonical text, see ./tsv.ts) as JSON, by {@link clickhouseTypeId}: see the
 * `BASE` comments; arrays as JSON arrays of their elements' JSON.
 */
export function jsonValue(typeId: number, raw: string | null): JsonValue {
  if (raw === null) return null;
  if (typeId >= ARRAY) {
    const parsed = parseLiteral(raw);
    return parsed === undefined ? raw : elementsJson(parsed, typeId % ARRAY);
  }
  return scalarJson(typeId, raw);
}

function scalarJson(base: number, raw: string): JsonValue {
  switch (base) {
    case BASE.int:
      return Number(raw);
    case BASE.float: {
      const n = Number(raw);
      return Number.isFinite(n) && raw !== "" ? n : raw;
    }
    case BASE.datetime:
    case BASE.datetimeUtc: {
      const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)$/.exec(raw);
      return m ? `${m[1]}T${m[2]}${base === BASE.datetimeUtc ? "Z" : ""}` : raw;
    }
    case BASE.bool:
      return raw === "true" || raw === "1";
    case BASE.nothing:
      return null;
    default:
      return raw;
  }
}

/** A parsed literal: strings stay marked as quoted, so `'1'` in Array(String) stays "1". */
type Literal = { quoted: string } | { bare: string } | null | Literal[];

function elementsJson(value: Literal, base: number): JsonValue {
  if (value === null) return null;
  if (Array.isArray(value)) return value.map((v) => elementsJson(v, base));
  return scalarJson(base, "quoted" in value ? value.quoted : value.bare);
}

/** Parses ClickHouse's literal text (`[1,NULL,'a\'b',[2]]`, tuples as arrays); `undefined` if it is not one. */
function parseLiteral(text: string): Literal | undefined {
  let i = 0;
  const value = (): Literal => {
    const c = text[i];
    if (c === "[" || c === "(" || c === "{") {
      const close = c === "[" ? "]" : c === "(" ? ")" : "}";
      i++;
      const out: Literal[] = [];
      while (i < text.length && text[i] !== close) {
        out.push(value());
        // A map's `key:value` pairs become [key, value] pairs' flat list: rare; good enough to read.
        if (text[i] === "," || text[i] === ":") i++;
      }
      i++;
      return out;
    }
    if (c === "'") {
      let s = "";
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === "\\") {
          i++;
          const e = text[i] ?? "";
          s += literalEscapes[e] ?? e;
        } else s += text[i];
        i++;
      }
      i++;
      return { quoted: s };
    }
    let end = i;
    while (end < text.length && !",:])}".includes(text[end] ?? "")) end++;
    const bare = text.slice(i, end).trim();
    i = end;
    return bare === "NULL" ? null : { bare };
  };
  if (!"[({".includes(text[0] ?? "x")) return undefined;
  const parsed = value();
  return i === text.length ? parsed : undefined;
}

const literalEscapes: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", "0": "\0", a: "\x07", v: "\v" };
