import { canonicalJson } from "../canonical-json";
import type { JsonValue } from "../source";

/**
 * Databricks result types and their canonical text. The Statement Execution API's JSON_ARRAY format
 * gives every value as a string or null (https://docs.databricks.com/api/workspace/statementexecution/executestatement,
 * `format`), and `manifest.schema.columns[].type_name` names its type (BYTE, SHORT, INT, LONG,
 * FLOAT, DOUBLE, DECIMAL, BOOLEAN, STRING, BINARY, DATE, TIMESTAMP, TIMESTAMP_NTZ, ARRAY, MAP,
 * STRUCT, …; SQL spellings such as BIGINT are read too). A {@link SourceField.typeId} is this
 * plug-in's own id (see `TYPE`); the column's `type_text` (`DECIMAL(18,4)`, `ARRAY<INT>`) stays
 * its `type`.
 *
 * Each value becomes one canonical text, so a row's hash changes only when its data does, whatever
 * the warehouse's rendering of the moment: integers without leading zeros; floats as the shortest
 * text that reads back the same double (`1.5e+300`, as Postgres writes it), `NaN`, `Infinity`,
 * `-Infinity`; decimals exactly as sent (their scale is the type's); booleans `true`/`false`;
 * TIMESTAMP as UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` and TIMESTAMP_NTZ without the `Z` (fraction
 * without trailing zeros); ARRAY, MAP and STRUCT as JSON with object keys sorted and numbers kept
 * as written (no precision lost); anything else (STRING, BINARY's base64, DATE, INTERVAL) as sent.
 */

const TYPE = {
  text: 0,
  int: 1, // BYTE/TINYINT, SHORT/SMALLINT, INT: JSON numbers
  bigint: 2, // LONG/BIGINT: strings in JSON (beyond 2^53)
  float: 3, // FLOAT, DOUBLE
  decimal: 4, // strings in JSON
  boolean: 5,
  date: 6,
  timestamp: 7, // an instant, shown in UTC
  timestampNtz: 8, // a wall-clock time without a zone
  binary: 9,
  array: 10,
  map: 11,
  struct: 12,
  null: 13, // the type of a bare NULL (VOID)
} as const;

const byName: Record<string, number> = {
  STRING: TYPE.text,
  CHAR: TYPE.text,
  VARCHAR: TYPE.text,
  BYTE: TYPE.int,
  TINYINT: TYPE.int,
  SHORT: TYPE.int,
  SMALLINT: TYPE.int,
  INT: TYPE.int,
  INTEGER: TYPE.int,
  LONG: TYPE.bigint,
  BIGINT: TYPE.bigint,
  FLOAT: TYPE.float,
  REAL: TYPE.float,
  DOUBLE: TYPE.float,
  DECIMAL: TYPE.decimal,
  DEC: TYPE.decimal,
  NUMERIC: TYPE.decimal,
  BOOLEAN: TYPE.boolean,
  DATE: TYPE.date,
  TIMESTAMP: TYPE.timestamp,
  TIMESTAMP_LTZ: TYPE.timestamp,
  TIMESTAMP_NTZ: TYPE.timestampNtz,
  BINARY: TYPE.binary,
  ARRAY: TYPE.array,
  MAP: TYPE.map,
  STRUCT: TYPE.struct,
  NULL: TYPE.null,
  VOID: TYPE.null,
};

/** The id of a column from its `type_name` (or, when absent, the first word of its `type_text`). */
export function databricksTypeId(typeName: string | undefined, typeText = ""): number {
  const name = (typeName || /^[A-Za-z_]+/.exec(typeText.trim())?.[0] || "STRING").toUpperCase();
  return byName[name] ?? TYPE.text;
}

/** The canonical text of one JSON_ARRAY value of type `typeId` (see the module comment); null stays null. */
export function canonicalText(typeId: number, raw: string | null): string | null {
  if (raw === null) return null;
  switch (typeId) {
    case TYPE.int:
    case TYPE.bigint:
      // Already canonical (the usual case) is kept without the BigInt round trip.
      return CANONICAL_INTEGER.test(raw) || !/^[+-]?\d+$/.test(raw) ? raw : BigInt(raw).toString();
    case TYPE.float:
      return canonicalFloat(raw);
    case TYPE.boolean:
      return /^(true|1)$/i.test(raw) ? "true" : /^(false|0)$/i.test(raw) ? "false" : raw;
    case TYPE.timestamp:
      return canonicalTimestamp(raw, true);
    case TYPE.timestampNtz:
      return canonicalTimestamp(raw, false);
    case TYPE.array:
    case TYPE.map:
    case TYPE.struct:
      return canonicalJson(raw) ?? raw;
    default:
      return raw;
  }
}

const CANONICAL_INTEGER = /^(0|-?[1-9]\d*)$/;
const PLAIN_DECIMAL = /^-?(0|[1-9]\d*)(?:\.(\d*[1-9]))?$/;

function canonicalFloat(raw: string): string {
  // A plain decimal of at most 15 significant digits (any such decimal maps to its own double) and
  // within JavaScript's fixed notation (≥ 1e-6) is already its shortest form: no Number round trip.
  const plain = PLAIN_DECIMAL.exec(raw);
  if (plain && raw !== "-0") {
    const [, int = "", fraction = ""] = plain;
    const digits = int === "0" ? fraction.replace(/^0+/, "") : int + fraction;
    if (digits.length <= 15 && (int !== "0" || fraction.length - digits.length <= 5)) return raw;
  }
  const t = raw.trim();
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? "-Infinity" : "Infinity";
  if (/^nan$/i.test(t)) return "NaN";
  const n = Number(t);
  return t !== "" && Number.isFinite(n) ? String(n) : raw;
}

const TIMESTAMP = /^([+-]?\d{4,})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?\s*(Z|UTC|[+-]\d\d(?::?\d\d)?)?$/i;

/** `YYYY-MM-DDTHH:MM:SS[.f]` + `Z` for an instant (shifted to UTC from any offset sent); unchanged when unreadable. */
function canonicalTimestamp(raw: string, instant: boolean): string {
  const m = TIMESTAMP.exec(raw.trim());
  if (!m) return raw;
  const [, y, mo, d, h, mi, s = "00", frac = "", zone = ""] = m;
  const fraction = frac.replace(/0+$/, "");
  const tail = fraction ? `.${fraction}` : "";
  if (!instant) return `${y}-${mo}-${d}T${h}:${mi}:${s}${tail}`;
  const offset = /^[+-]/.test(zone) ? offsetMinutes(zone) : 0;
  if (offset === 0) return `${y}-${mo}-${d}T${h}:${mi}:${s}${tail}Z`;
  const utc = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi) - offset, Number(s)));
  if (Number(y) < 100) utc.setUTCFullYear(Number(y));
  return `${utc.toISOString().slice(0, 19)}${tail}Z`;
}

function offsetMinutes(zone: string): number {
  const digits = zone.slice(1).replace(":", "");
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0");
  return zone.startsWith("-") ? -minutes : minutes;
}

/**
 * One canonical text value as JSON: BYTE/SHORT/INT, and finite FLOAT/DOUBLE, as numbers; BIGINT and
 * DECIMAL as strings (no precision loss); BOOLEAN as true/false; ARRAY, MAP and STRUCT parsed;
 * timestamps, dates, BINARY (base64) and the rest as their text.
 */
export function jsonValue(typeId: number, raw: string | null): JsonValue {
  if (raw === null) return null;
  switch (typeId) {
    case TYPE.int:
      return Number(raw);
    case TYPE.float: {
      const n = Number(raw);
      return Number.isFinite(n) && raw !== "" ? n : raw;
    }
    case TYPE.boolean:
      return raw === "true";
    case TYPE.array:
    case TYPE.map:
    case TYPE.struct:
      try {
        return JSON.parse(raw) as JsonValue;
      } catch {
        return raw;
      }
    case TYPE.null:
      return null;
    default:
      return raw;
  }
}
