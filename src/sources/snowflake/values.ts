import type { JsonValue } from "../source";

/**
 * Snowflake's result values → one canonical text per type, and that text → JSON.
 *
 * The SQL API sends every value as a JSON string (or null) in its own encoding, by the column's
 * `rowType[].type` ("Handling responses", https://docs.snowflake.com/en/developer-guide/sql-api/handling-responses):
 * FIXED as the exact decimal text; REAL as a float's text ("inf", "-inf", "NaN" included); DATE as
 * days since 1970-01-01; TIME as seconds since midnight with the scale's fraction digits;
 * TIMESTAMP_NTZ/LTZ as seconds since the epoch ("1616173619.000000000"); TIMESTAMP_TZ as those
 * seconds (UTC) and the zone offset in minutes plus 1440 ("1616173619.000000000 960" is -08:00);
 * VARIANT/OBJECT/ARRAY as JSON text (pretty-printed); BINARY as hex. Canonical forms, so a row's
 * hash changes only when its data does:
 * - FIXED: the text as sent (exact; scale digits kept); REAL: the shortest text of the double,
 *   "Infinity", "-Infinity", "NaN"; BOOLEAN: "true"/"false";
 * - DATE `2024-02-29`; TIME `03:04:05.5`; TIMESTAMP_NTZ `2024-02-29T03:04:05.5`; TIMESTAMP_LTZ the
 *   instant in UTC `…Z`; TIMESTAMP_TZ the local time and its offset `…+02:00` (fractions without
 *   trailing zeros, none when whole);
 * - VARIANT/OBJECT/ARRAY: compact JSON with object keys sorted, numbers as written;
 * - BINARY: lower-case hex; anything else (TEXT, GEOGRAPHY, …): the text as sent.
 */

/** This plug-in's {@link SourceField.typeId}s (its own id space, not Postgres OIDs). */
export const TYPE = {
  text: 0,
  integer: 1, // FIXED with scale 0
  decimal: 2, // FIXED with a scale
  real: 3,
  boolean: 4,
  date: 5,
  time: 6,
  timestampNtz: 7,
  timestampLtz: 8,
  timestampTz: 9,
  variant: 10,
  object: 11,
  array: 12,
  binary: 13,
} as const;

/** A column as the SQL API's `resultSetMetaData.rowType` describes it. */
export interface RowType {
  name: string;
  type: string;
  scale?: number | null;
  precision?: number | null;
  length?: number | null;
}

/** The type id of a rowType entry. */
export function typeIdOf(column: RowType): number {
  switch (column.type.toUpperCase()) {
    case "FIXED":
    case "NUMBER":
      return (column.scale ?? 0) > 0 ? TYPE.decimal : TYPE.integer;
    case "REAL":
    case "FLOAT":
      return TYPE.real;
    case "BOOLEAN":
      return TYPE.boolean;
    case "DATE":
      return TYPE.date;
    case "TIME":
      return TYPE.time;
    case "TIMESTAMP_NTZ":
      return TYPE.timestampNtz;
    case "TIMESTAMP_LTZ":
      return TYPE.timestampLtz;
    case "TIMESTAMP_TZ":
      return TYPE.timestampTz;
    case "VARIANT":
      return TYPE.variant;
    case "OBJECT":
      return TYPE.object;
    case "ARRAY":
      return TYPE.array;
    case "BINARY":
      return TYPE.binary;
    default:
      return TYPE.text;
  }
}

/** The type's name as Snowflake writes it in DDL (`NUMBER(38,2)`, `VARCHAR`, `TIMESTAMP_TZ`). */
export function typeNameOf(column: RowType): string {
  const type = column.type.toUpperCase();
  if (type === "FIXED") return `NUMBER(${column.precision ?? 38},${column.scale ?? 0})`;
  if (type === "TEXT") return "VARCHAR";
  if (type === "REAL") return "FLOAT";
  return type;
}

/** A value converter for a type id: the API's string → canonical text (see the module comment). */
export type Canonicalize = (raw: string) => string;

/** The converter of a type id. Throws on a value that is not in the API's encoding of the type. */
export function canonicalizer(typeId: number): Canonicalize {
  switch (typeId) {
    case TYPE.real:
      return canonicalReal;
    case TYPE.boolean:
      return canonicalBoolean;
    case TYPE.date:
      return (raw) => isoDate(integer(raw, "DATE"));
    case TYPE.time:
      return canonicalTime;
    case TYPE.timestampNtz:
      return (raw) => isoDateTime(epochNanos(raw, "TIMESTAMP_NTZ"));
    case TYPE.timestampLtz:
      return (raw) => `${isoDateTime(epochNanos(raw, "TIMESTAMP_LTZ"))}Z`;
    case TYPE.timestampTz:
      return canonicalTimestampTz;
    case TYPE.variant:
    case TYPE.object:
    case TYPE.array:
      return canonicalJson;
    case TYPE.binary:
      return (raw) => raw.toLowerCase();
    default:
      return (raw) => raw;
  }
}

/** A value the API sent that is not in its documented encoding. */
export class ValueFormatError extends Error {
  override name = "ValueFormatError";
}

function canonicalReal(raw: string): string {
  const lower = raw.trim().toLowerCase();
  if (lower === "inf" || lower === "infinity") return "Infinity";
  if (lower === "-inf" || lower === "-infinity") return "-Infinity";
  if (lower === "nan") return "NaN";
  const n = Number(raw);
  if (raw.trim() === "" || Number.isNaN(n)) throw new ValueFormatError(`not a FLOAT value: ${raw.slice(0, 40)}`);
  // -0 and 0 are one value to SQL.
  return Object.is(n, -0) ? "0" : String(n);
}

function canonicalBoolean(raw: string): string {
  const lower = raw.toLowerCase();
  if (lower === "true" || lower === "1") return "true";
  if (lower === "false" || lower === "0") return "false";
  throw new ValueFormatError(`not a BOOLEAN value: ${raw.slice(0, 40)}`);
}

function integer(raw: string, type: string): number {
  if (!/^-?\d+$/.test(raw)) throw new ValueFormatError(`not a ${type} value: ${raw.slice(0, 40)}`);
  return Number(raw);
}

const NANOS_PER_SECOND = 1_000_000_000n;
const SECONDS_PER_DAY = 86_400n;

/** "seconds[.fraction]" → nanoseconds (exact, negative values included). */
function epochNanos(raw: string, type: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(raw);
  if (!m) throw new ValueFormatError(`not a ${type} value: ${raw.slice(0, 40)}`);
  const nanos = BigInt(m[2] ?? "0") * NANOS_PER_SECOND + BigInt((m[3] ?? "").padEnd(9, "0"));
  return m[1] === "-" ? -nanos : nanos;
}

/** Floor division and its non-negative remainder. */
function divFloor(a: bigint, b: bigint): [bigint, bigint] {
  const q = a / b;
  const r = a % b;
  return r < 0n ? [q - 1n, r + b] : [q, r];
}

const pad = (n: number | bigint, width = 2) => String(n).padStart(width, "0");

function isoDate(days: number): string {
  const d = new Date(Date.UTC(1970, 0, 1 + days));
  const y = d.getUTCFullYear();
  const year = y >= 0 && y <= 9999 ? pad(y, 4) : `${y < 0 ? "-" : "+"}${pad(Math.abs(y), 6)}`;
  return `${year}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** `HH:MM:SS[.fraction]` of nanoseconds within a day. */
function clock(nanosOfDay: bigint): string {
  const [seconds, nanos] = divFloor(nanosOfDay, NANOS_PER_SECOND);
  const s = Number(seconds);
  const fraction = nanos === 0n ? "" : `.${pad(nanos, 9).replace(/0+$/, "")}`;
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}${fraction}`;
}

function isoDateTime(nanos: bigint): string {
  const [days, rest] = divFloor(nanos, SECONDS_PER_DAY * NANOS_PER_SECOND);
  return `${isoDate(Number(days))}T${clock(rest)}`;
}

function canonicalTime(raw: string): string {
  const nanos = epochNanos(raw, "TIME");
  if (nanos < 0n || nanos >= SECONDS_PER_DAY * NANOS_PER_SECOND) throw new ValueFormatError(`not a TIME value: ${raw.slice(0, 40)}`);
  return clock(nanos);
}

function canonicalTimestampTz(raw: string): string {
  const [utc, offsetText] = raw.split(" ");
  if (utc === undefined || offsetText === undefined) throw new ValueFormatError(`not a TIMESTAMP_TZ value: ${raw.slice(0, 40)}`);
  // The offset in minutes, plus 1440 (so it is never negative).
  const offset = integer(offsetText, "TIMESTAMP_TZ") - 1440;
  const local = epochNanos(utc, "TIMESTAMP_TZ") + BigInt(offset) * 60n * NANOS_PER_SECOND;
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${isoDateTime(local)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * Compact JSON with sorted object keys; numbers keep their text (a big integer in a VARIANT stays
 * exact), strings are re-escaped the one way JSON.stringify does.
 */
export function canonicalJson(raw: string): string {
  let i = 0;
  const fail = (): never => {
    throw new ValueFormatError(`not JSON at character ${i + 1}: ${raw.slice(0, 40)}`);
  };
  const space = () => {
    while (i < raw.length && " \t\n\r".includes(raw[i] ?? "")) i++;
  };
  const string = (): string => {
    const start = i;
    i++;
    while (i < raw.length && raw[i] !== '"') i += raw[i] === "\\" ? 2 : 1;
    if (i >= raw.length) fail();
    i++;
    return JSON.parse(raw.slice(start, i)) as string;
  };
  const value = (): string => {
    space();
    const c = raw[i];
    if (c === "{") {
      i++;
      const entries: [string, string][] = [];
      space();
      if (raw[i] === "}") i++;
      else
        for (;;) {
          space();
          if (raw[i] !== '"') fail();
          const key = string();
          space();
          if (raw[i++] !== ":") fail();
          entries.push([key, value()]);
          space();
          const next = raw[i++];
          if (next === "}") break;
          if (next !== ",") fail();
        }
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
    }
    if (c === "[") {
      i++;
      const items: string[] = [];
      space();
      if (raw[i] === "]") i++;
      else
        for (;;) {
          items.push(value());
          space();
          const next = raw[i++];
          if (next === "]") break;
          if (next !== ",") fail();
        }
      return `[${items.join(",")}]`;
    }
    if (c === '"') return JSON.stringify(string());
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|NaN|-?Infinity|undefined)/.exec(raw.slice(i, i + 400));
    if (!m) return fail();
    i += m[0].length;
    // Snowflake writes a VARIANT's NaN/Infinity bare and its undefined as such; JSON has null.
    return m[0] === "NaN" || m[0].endsWith("Infinity") || m[0] === "undefined" ? `"${m[0]}"` : m[0];
  };
  const out = value();
  space();
  if (i !== raw.length) fail();
  return out;
}

/** One canonical text value of a column of type `typeId` as JSON (what preview and delivery show). */
export function jsonValue(typeId: number, raw: string | null): JsonValue {
  if (raw === null) return null;
  switch (typeId) {
    case TYPE.integer: {
      const n = Number(raw);
      return Number.isSafeInteger(n) ? n : raw;
    }
    case TYPE.real: {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    case TYPE.boolean:
      return raw === "true";
    case TYPE.variant:
    case TYPE.object:
    case TYPE.array:
      try {
        return JSON.parse(raw) as JsonValue;
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}
