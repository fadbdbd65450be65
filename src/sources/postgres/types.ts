import type { Client, FieldDef } from "@neondatabase/serverless";
import { WarehouseError } from "../errors";
import type { JsonValue, SourceField } from "../source";

/** Postgres result types: type names of result fields, and text values as JSON. */

/** One row as Postgres sent it: the text form of each column, or null. */
export type RawRow = (string | null)[];

// Values stay as Postgres' text: the stream hashes them as sent; jsonValue converts later.
const identity = (value: string): string => value;
export const rawTextTypes = { getTypeParser: () => identity };

// Built-in type OIDs are the same on every server; others are looked up in pg_type.
const builtinTypeNames = new Map<number, string>([
  [16, "bool"],
  [17, "bytea"],
  [18, "char"],
  [19, "name"],
  [20, "int8"],
  [21, "int2"],
  [23, "int4"],
  [25, "text"],
  [26, "oid"],
  [114, "json"],
  [142, "xml"],
  [650, "cidr"],
  [700, "float4"],
  [701, "float8"],
  [790, "money"],
  [829, "macaddr"],
  [869, "inet"],
  [1042, "bpchar"],
  [1043, "varchar"],
  [1082, "date"],
  [1083, "time"],
  [1114, "timestamp"],
  [1184, "timestamptz"],
  [1186, "interval"],
  [1266, "timetz"],
  [1560, "bit"],
  [1562, "varbit"],
  [1700, "numeric"],
  [2950, "uuid"],
  [3802, "jsonb"],
]);
const arrayElementTypes = new Map<number, number>([
  [1000, 16],
  [1001, 17],
  [1005, 21],
  [1007, 23],
  [1009, 25],
  [1014, 1042],
  [1015, 1043],
  [1016, 20],
  [1021, 700],
  [1022, 701],
  [1115, 1114],
  [1182, 1082],
  [1183, 1083],
  [1185, 1184],
  [1231, 1700],
  [2951, 2950],
  [199, 114],
  [3807, 3802],
]);
for (const [arrayId, elementId] of arrayElementTypes) {
  const element = builtinTypeNames.get(elementId);
  if (element) builtinTypeNames.set(arrayId, `${element}[]`);
}

/** Names and types of result fields; refuses duplicate column names (rows are mapped by name). */
export async function fieldTypes(client: Client, fields: FieldDef[]): Promise<SourceField[]> {
  const seen = new Set<string>();
  for (const f of fields) {
    if (seen.has(f.name))
      throw new WarehouseError("query_failed", `column name "${f.name}" appears more than once; give each column a unique alias`);
    seen.add(f.name);
  }
  const unknown = [...new Set(fields.map((f) => f.dataTypeID).filter((id) => !builtinTypeNames.has(id)))];
  const names = new Map<number, string>();
  if (unknown.length > 0) {
    const result = await client.query<{ oid: number; name: string }>(
      `SELECT t.oid::int4 AS oid, CASE WHEN e.oid IS NULL THEN t.typname ELSE e.typname || '[]' END AS name
         FROM pg_type t LEFT JOIN pg_type e ON e.typarray = t.oid WHERE t.oid = ANY($1::oid[])`,
      [unknown],
    );
    for (const row of result.rows) names.set(row.oid, row.name);
  }
  return fields.map((f) => ({
    name: f.name,
    typeId: f.dataTypeID,
    type: builtinTypeNames.get(f.dataTypeID) ?? names.get(f.dataTypeID) ?? String(f.dataTypeID),
  }));
}

/** `2024-01-02 03:04:05.5+05:30` → `2024-01-02T03:04:05.5+05:30`; `+00` → `Z`; BC and infinity unchanged. */
function isoTimestamp(raw: string, withZone: boolean): string {
  const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(?:([+-]\d\d)(?::(\d\d))?(?::(\d\d))?)?$/.exec(raw);
  if (!m) return raw;
  const [, date, time, hours, minutes, seconds] = m;
  if (!withZone || hours === undefined) return `${date}T${time}`;
  if (hours === "+00" && !minutes && !seconds) return `${date}T${time}Z`;
  return `${date}T${time}${hours}:${minutes ?? "00"}${seconds ? `:${seconds}` : ""}`;
}

/** Parses Postgres' array text (`{1,NULL,"a \"b\""}`, nested, optional `[1:2]=` bounds). */
function parseArray(raw: string, element: (value: string) => JsonValue): JsonValue {
  let i = raw.startsWith("[") ? raw.indexOf("=") + 1 : 0;
  const parseLevel = (): JsonValue[] => {
    const out: JsonValue[] = [];
    i++; // "{"
    while (i < raw.length) {
      const c = raw[i];
      if (c === "}") {
        i++;
        return out;
      }
      if (c === ",") i++;
      else if (c === "{") out.push(parseLevel());
      else if (c === '"') {
        let value = "";
        i++;
        while (i < raw.length && raw[i] !== '"') {
          if (raw[i] === "\\") i++;
          value += raw[i] ?? "";
          i++;
        }
        i++;
        out.push(element(value));
      } else {
        let end = i;
        while (end < raw.length && raw[end] !== "," && raw[end] !== "}") end++;
        const value = raw.slice(i, end);
        out.push(value === "NULL" ? null : element(value));
        i = end;
      }
    }
    return out;
  };
  return raw[i] === "{" ? parseLevel() : raw;
}

/**
 * One text value from Postgres as JSON: booleans and 2/4-byte integers and finite floats as
 * numbers; int8, numeric and money as strings (no precision loss); json/jsonb parsed; timestamps
 * as ISO 8601 strings (`2024-01-02T03:04:05.123456Z`); dates as `YYYY-MM-DD`; bytea in Postgres'
 * hex form (`\x0102`); arrays of those types as JSON arrays; anything else as its text.
 */
export function jsonValue(typeId: number, raw: string | null): JsonValue {
  if (raw === null) return null;
  switch (typeId) {
    case 16:
      return raw === "t";
    case 21:
    case 23:
    case 26:
      return Number(raw);
    case 700:
    case 701: {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    case 114:
    case 3802:
      return JSON.parse(raw) as JsonValue;
    case 1114:
      return isoTimestamp(raw, false);
    case 1184:
      return isoTimestamp(raw, true);
    default: {
      const element = arrayElementTypes.get(typeId);
      return element === undefined ? raw : parseArray(raw, (v) => jsonValue(element, v));
    }
  }
}
