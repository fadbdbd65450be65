import type { DestinationField, FieldType } from "../destinations/destination";

/**
 * Casting mapped values (JSON from the model: strings, numbers, booleans, null, objects, arrays)
 * to the type of the destination field they go to, before a batch is sent: "42" to 42 for a
 * number, "true" or "1" to true for a boolean, dates and datetimes to ISO 8601, a JSON string to
 * its object. Pure: no I/O, no clock.
 */

/** A cast value, or why the value cannot be one of the field's type. */
export type CastResult = { ok: true; value: unknown } | { ok: false; error: string };

const TRUE = new Set(["true", "t", "yes", "y", "1", "on"]);
const FALSE = new Set(["false", "f", "no", "n", "0", "off"]);
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
// A date and time without an offset is taken as UTC (the Workers runtime's time zone too).
const DATETIME_NO_OFFSET = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * `value` as a `type`. null stays null (clearing a field is the destination's call); a value
 * already of the type is kept as is. Integers beyond 2^53 given as strings stay strings, so a
 * bigint is never rounded on its way.
 */
export function castValue(value: unknown, type: FieldType): CastResult {
  if (value === null || value === undefined) return { ok: true, value: null };
  switch (type) {
    case "string":
      return typeof value === "object" ? { ok: true, value: JSON.stringify(value) } : { ok: true, value: String(value) };
    case "number":
      return toNumber(value, false);
    case "integer":
      return toNumber(value, true);
    case "boolean":
      return toBoolean(value);
    case "date":
      return toDate(value);
    case "datetime":
      return toDatetime(value);
    case "json":
      return toJson(value);
  }
}

function toNumber(value: unknown, integer: boolean): CastResult {
  const what = integer ? "an integer" : "a number";
  if (typeof value === "boolean") return { ok: true, value: value ? 1 : 0 };
  if (typeof value === "number") {
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) return { ok: false, error: `is not ${what}` };
    return { ok: true, value };
  }
  if (typeof value !== "string") return { ok: false, error: `is not ${what}` };
  const text = value.trim();
  if (!(integer ? INTEGER : NUMBER).test(text)) return { ok: false, error: `is not ${what}` };
  const n = Number(text);
  if (!Number.isFinite(n)) return { ok: false, error: `is out of range for ${what}` };
  if (integer && !Number.isSafeInteger(n)) return { ok: true, value: text };
  return { ok: true, value: n };
}

function toBoolean(value: unknown): CastResult {
  if (typeof value === "boolean") return { ok: true, value };
  if (typeof value === "number" && (value === 0 || value === 1)) return { ok: true, value: value === 1 };
  if (typeof value === "string") {
    const text = value.trim().toLowerCase();
    if (TRUE.has(text)) return { ok: true, value: true };
    if (FALSE.has(text)) return { ok: true, value: false };
  }
  return { ok: false, error: "is not a boolean (true/false, yes/no, 1/0)" };
}

function toDate(value: unknown): CastResult {
  const text = typeof value === "string" ? value.trim() : value;
  if (typeof text === "string" && DATE.test(text)) {
    return validDay(text) ? { ok: true, value: text } : { ok: false, error: "is not a calendar date" };
  }
  // A datetime (or epoch milliseconds) at a date field: its UTC day.
  const datetime = toDatetime(text);
  return datetime.ok ? { ok: true, value: String(datetime.value).slice(0, 10) } : { ok: false, error: "is not a date (YYYY-MM-DD)" };
}

function toDatetime(value: unknown): CastResult {
  const error = "is not a date and time (ISO 8601)";
  if (typeof value === "number") {
    // Epoch milliseconds (what JavaScript and HubSpot use); out of Date's range is an error.
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? { ok: false, error } : { ok: true, value: date.toISOString() };
  }
  if (typeof value !== "string") return { ok: false, error };
  let text = value.trim();
  if (DATE.test(text)) text = `${text}T00:00:00Z`;
  else if (DATETIME_NO_OFFSET.test(text)) text = `${text.replace(" ", "T")}Z`;
  else if (DATETIME.test(text))
    text = text
      .replace(" ", "T")
      .replace(/([+-]\d{2})(\d{2})$/, "$1:$2")
      .replace(/([+-]\d{2})$/, "$1:00");
  else return { ok: false, error };
  if (!validDay(text.slice(0, 10))) return { ok: false, error: "is not a calendar date" };
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? { ok: false, error } : { ok: true, value: date.toISOString() };
}

/** Whether YYYY-MM-DD names a day that exists (Date would roll 2024-02-30 over to March). */
function validDay(text: string): boolean {
  const [y, m, d] = text.split("-").map(Number);
  if (y === undefined || m === undefined || d === undefined) return false;
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

function toJson(value: unknown): CastResult {
  if (typeof value !== "string") return { ok: true, value };
  try {
    return { ok: true, value: JSON.parse(value) };
  } catch {
    return { ok: false, error: "is not JSON" };
  }
}

/** One operation's fields cast, or the first field that cannot be, with a message naming field and value. */
export type CastFieldsResult = { ok: true; fields: Record<string, unknown> } | { ok: false; error: string };

const MAX_VALUE_IN_MESSAGE = 100;

/**
 * Casts every field of `fields` the destination describes; fields it does not describe are sent
 * as they are (the destination judges them).
 */
export function castFields(fields: Record<string, unknown>, described: ReadonlyMap<string, DestinationField>): CastFieldsResult {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    const field = described.get(name);
    if (!field) {
      out[name] = value;
      continue;
    }
    const cast = castValue(value, field.type);
    if (!cast.ok) {
      const shown = JSON.stringify(value) ?? String(value);
      const text = shown.length > MAX_VALUE_IN_MESSAGE ? `${shown.slice(0, MAX_VALUE_IN_MESSAGE)}…` : shown;
      return { ok: false, error: `field ${name} (${field.type}): ${text} ${cast.error}` };
    }
    out[name] = cast.value;
  }
  return { ok: true, fields: out };
}
