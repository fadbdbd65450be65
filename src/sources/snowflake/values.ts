import { canonicalJson as canonicalJsonText } from "../canonical-json";
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
      return (raw) => isoDateTime(epochParts(raw, "TIMESTAMP_NTZ"));
    case TYPE.timestampLtz:
      return (raw) => `${isoDateTime(epochParts(raw, "TIMESTAMP_LTZ"))}Z`;
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

/** A time as whole seconds (floored) and the nanoseconds after them (0 ≤ nanos < 1e9). */
interface Instant {
  seconds: number;
  nanos: number;
}

/** "seconds[.fraction]", signed as a whole ("-0.5" is half a second before) → {@link Instant}. */
function epochParts(raw: string, type: string): Instant {
  const m = /^(-?)(\d{1,15})(?:\.(\d{1,9}))?$/.exec(raw);
  if (!m) throw new ValueFormatError(`not a ${type} value: ${raw.slice(0, 40)}`);
  const whole = Number(m[2]);
  const fraction = m[3] ? Number(m[3].padEnd(9, "0")) : 0;
  if (m[1] !== "-") return { seconds: whole, nanos: fraction };
  return fraction === 0 ? { seconds: -whole, nanos: 0 } : { seconds: -whole - 1, nanos: 1e9 - fraction };
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/** The proleptic Gregorian date of a day number (days since 1970-01-01), by Howard Hinnant's civil_from_days. */
function isoDate(days: number): string {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const year = y >= 0 && y <= 9999 ? String(y).padStart(4, "0") : `${y < 0 ? "-" : "+"}${String(Math.abs(y)).padStart(6, "0")}`;
  return `${year}-${pad2(month)}-${pad2(day)}`;
}

/** `HH:MM:SS[.fraction]` of a second of the day and its nanoseconds. */
function clock(secondOfDay: number, nanos: number): string {
  const hms = `${pad2(Math.floor(secondOfDay / 3600))}:${pad2(Math.floor(secondOfDay / 60) % 60)}:${pad2(secondOfDay % 60)}`;
  return nanos === 0 ? hms : `${hms}.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`;
}

function isoDateTime({ seconds, nanos }: Instant): string {
  const days = Math.floor(seconds / 86_400);
  return `${isoDate(days)}T${clock(seconds - days * 86_400, nanos)}`;
}

function canonicalTime(raw: string): string {
  const { seconds, nanos } = epochParts(raw, "TIME");
  if (seconds < 0 || seconds >= 86_400) throw new ValueFormatError(`not a TIME value: ${raw.slice(0, 40)}`);
  return clock(seconds, nanos);
}

function canonicalTimestampTz(raw: string): string {
  const space = raw.indexOf(" ");
  if (space < 0) throw new ValueFormatError(`not a TIMESTAMP_TZ value: ${raw.slice(0, 40)}`);
  // The offset in minutes, plus 1440 (so it is never negative).
  const offset = integer(raw.slice(space + 1), "TIMESTAMP_TZ") - 1440;
  const utc = epochParts(raw.slice(0, space), "TIMESTAMP_TZ");
  const abs = Math.abs(offset);
  const local = isoDateTime({ seconds: utc.seconds + offset * 60, nanos: utc.nanos });
  return `${local}${offset < 0 ? "-" : "+"}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

/** A VARIANT's JSON in the canonical form (src/sources/canonical-json.ts); Snowflake writes NaN, Infinity and undefined bare: they become strings. */
export function canonicalJson(raw: string): string {
  const out = canonicalJsonText(raw, { bareWords: ["NaN", "Infinity", "-Infinity", "undefined"] });
  if (out === undefined) throw new ValueFormatError(`not JSON: ${raw.slice(0, 40)}`);
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
