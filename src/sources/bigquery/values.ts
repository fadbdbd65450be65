import { canonicalJson } from "../canonical-json";
import type { JsonValue } from "../source";
import type { TableField } from "./api";

/**
 * BigQuery values → one canonical text each (what extraction hashes), and back to JSON.
 *
 * The API sends every cell as `{"v": …}` (https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/list):
 * scalars as strings, NULL as null, an ARRAY (mode REPEATED) as a list of `{"v": …}` (NULL arrays
 * come back empty), a STRUCT (type RECORD) as `{"f": [{"v": …}, …]}` in the schema's field order.
 * The canonical text of each type:
 * - INT64, STRING, DATE, TIME, DATETIME, GEOGRAPHY, INTERVAL, RANGE: as the API writes them;
 * - NUMERIC, BIGNUMERIC: the exact decimal, without trailing fraction zeros;
 * - FLOAT64: the shortest text that reads back as the same double (`0.1`, `1.5e+300`), `NaN`,
 *   `Infinity`, `-Infinity`, `-0`;
 * - BOOL: `true` / `false`;
 * - BYTES: Postgres' hex form (`\x0aff`), whatever base64 spelling the API used;
 * - TIMESTAMP: ISO 8601 in UTC with microseconds, trailing zeros dropped (`2024-01-02T03:04:05.12Z`),
 *   from int64 microseconds (`formatOptions.useInt64Timestamp`) or the float seconds
 *   (`1.7041646451E9`), read exactly as decimals;
 * - JSON: keys sorted, no whitespace, number literals kept as written;
 * - ARRAY and STRUCT: JSON (arrays, objects keyed by field name in schema order) of the elements'
 *   JSON values as {@link jsonValue} gives them.
 *
 * Type ids ({@link SourceField.typeId}) are this plug-in's own: a base per type, +1000 for ARRAY.
 */

const BASE: Record<string, number> = {
  STRING: 0,
  INT64: 1,
  FLOAT64: 2,
  NUMERIC: 3,
  BIGNUMERIC: 4,
  BOOL: 5,
  BYTES: 6,
  DATE: 7,
  DATETIME: 8,
  TIME: 9,
  TIMESTAMP: 10,
  JSON: 11,
  STRUCT: 12,
  GEOGRAPHY: 13,
  INTERVAL: 14,
  RANGE: 15,
};
const ARRAY = 1000;

// The legacy names the API's schemas use, as GoogleSQL names them.
const STANDARD: Record<string, string> = {
  INTEGER: "INT64",
  FLOAT: "FLOAT64",
  BOOLEAN: "BOOL",
  RECORD: "STRUCT",
  DECIMAL: "NUMERIC",
  BIGDECIMAL: "BIGNUMERIC",
};

function scalarType(field: TableField): string {
  const type = field.type.toUpperCase();
  return STANDARD[type] ?? type;
}

/** The field's type as GoogleSQL writes it: `INT64`, `ARRAY<STRING>`, `STRUCT<a INT64, b ARRAY<DATE>>`. */
export function typeName(field: TableField): string {
  const type = scalarType(field);
  const base = type === "STRUCT" ? `STRUCT<${(field.fields ?? []).map((f) => `${f.name} ${typeName(f)}`).join(", ")}>` : type;
  return field.mode === "REPEATED" ? `ARRAY<${base}>` : base;
}

/** The field's type id (see the module comment). */
export function typeId(field: TableField): number {
  return (BASE[scalarType(field)] ?? BASE.STRING ?? 0) + (field.mode === "REPEATED" ? ARRAY : 0);
}

/** A cell's canonical text (null for NULL; an empty ARRAY is `[]`). */
export function cellText(field: TableField, v: unknown): string | null {
  return cellConverter(field)(v);
}

/** The conversion of one column's cells to canonical text, decided once per column rather than per cell. */
export function cellConverter(field: TableField): (v: unknown) => string | null {
  if (field.mode === "REPEATED")
    return (v) => `[${(Array.isArray(v) ? v : []).map((e: { v?: unknown }) => elementJson(field, e?.v)).join(",")}]`;
  const type = scalarType(field);
  if (type === "STRUCT") return (v) => (v === null || v === undefined ? null : structJson(field, v));
  // The API writes these as they are canonical; no work per cell.
  if (type === "STRING" || type === "INT64" || type === "DATE" || type === "TIME" || type === "DATETIME")
    return (v) => (v === null || v === undefined ? null : typeof v === "string" ? v : JSON.stringify(v));
  return (v) => (v === null || v === undefined ? null : scalarText(type, typeof v === "string" ? v : JSON.stringify(v)));
}

function scalarText(type: string, v: string): string {
  switch (type) {
    case "FLOAT64":
      return floatText(v);
    case "NUMERIC":
    case "BIGNUMERIC":
      return v.includes(".") ? v.replace(/\.?0+$/, "") : v;
    case "BOOL":
      return v.toLowerCase() === "true" ? "true" : "false";
    case "BYTES":
      return bytesHex(v);
    case "TIMESTAMP":
      return timestampText(v);
    case "JSON":
      return canonicalJson(v) ?? v;
    default:
      return v;
  }
}

function floatText(v: string): string {
  const n = Number(v);
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "Infinity";
  if (n === -Infinity) return "-Infinity";
  return Object.is(n, -0) ? "-0" : String(n);
}

function bytesHex(base64: string): string {
  let binary: string;
  try {
    binary = atob(base64.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return base64;
  }
  let hex = "\\x";
  for (let i = 0; i < binary.length; i++) hex += binary.charCodeAt(i).toString(16).padStart(2, "0");
  return hex;
}

/** Microseconds since the epoch from int64 text or float seconds (`1.7041646451E9`), exactly. */
function timestampMicros(v: string): bigint | undefined {
  if (/^-?\d+$/.test(v)) return BigInt(v);
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(v);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return undefined;
  const digits = `${m[2]}${m[3] ?? ""}`;
  // digits × 10^(exponent − fraction length) seconds, × 10^6 for microseconds, rounded half up.
  const shift = Number(m[4] ?? 0) - (m[3] ?? "").length + 6;
  let micros: bigint;
  if (shift >= 0) micros = BigInt(digits) * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    micros = (BigInt(digits) * 2n + divisor) / (2n * divisor);
  }
  return m[1] === "-" ? -micros : micros;
}

function timestampText(v: string): string {
  // int64 microseconds within ±2^53 (years 1685 to 2255) are exact as a Number: no BigInt needed.
  const micros = /^-?\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (Number.isSafeInteger(micros)) {
    const ms = Math.floor(micros / 1000);
    return isoTimestamp(ms, micros - ms * 1000);
  }
  const exact = timestampMicros(v);
  if (exact === undefined) return v;
  let ms = exact / 1000n;
  if (exact < 0n && ms * 1000n !== exact) ms -= 1n; // floor, not truncation
  return isoTimestamp(Number(ms), Number(exact - ms * 1000n), v);
}

/** ISO 8601 in UTC from milliseconds and the microseconds past them; `fallback` when out of Date's range. */
function isoTimestamp(ms: number, extraMicros: number, fallback = String(ms * 1000 + extraMicros)): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return fallback;
  const iso = date.toISOString();
  const micros = date.getUTCMilliseconds() * 1000 + extraMicros;
  if (micros === 0) return `${iso.slice(0, -5)}Z`;
  return `${iso.slice(0, -5)}.${String(micros).padStart(6, "0").replace(/0+$/, "")}Z`;
}

/** An ARRAY element's or STRUCT field's value as JSON text (see {@link jsonValue}). */
function elementJson(field: TableField, v: unknown): string {
  if (v === null || v === undefined) return "null";
  const type = scalarType(field);
  if (type === "STRUCT") return structJson(field, v);
  const text = scalarText(type, typeof v === "string" ? v : JSON.stringify(v));
  if (type === "JSON") return text;
  return JSON.stringify(scalarJson(BASE[type] ?? 0, text));
}

function structJson(field: TableField, v: unknown): string {
  const cells = (v as { f?: { v?: unknown }[] }).f ?? [];
  const parts = (field.fields ?? []).map(
    (f, k) => `${JSON.stringify(f.name)}:${f.mode === "REPEATED" ? cellText(f, cells[k]?.v) : elementJson(f, cells[k]?.v)}`,
  );
  return `{${parts.join(",")}}`;
}

/**
 * One canonical text (see the module comment) as JSON: INT64 as a number when it is a safe
 * integer, else a string; FLOAT64 as a number when finite, else its text; NUMERIC/BIGNUMERIC as
 * strings (exact); BOOL as a boolean; JSON, ARRAY and STRUCT parsed; everything else as its text.
 */
export function jsonValue(id: number, raw: string | null): JsonValue {
  if (raw === null) return null;
  if (id >= ARRAY || id === BASE.STRUCT || id === BASE.JSON) {
    try {
      return JSON.parse(raw) as JsonValue;
    } catch {
      return raw;
    }
  }
  return scalarJson(id, raw);
}

function scalarJson(id: number, raw: string): JsonValue {
  switch (id) {
    case BASE.INT64: {
      const n = Number(raw);
      return Number.isSafeInteger(n) ? n : raw;
    }
    case BASE.FLOAT64: {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    case BASE.BOOL:
      return raw === "true";
    default:
      return raw;
  }
}
