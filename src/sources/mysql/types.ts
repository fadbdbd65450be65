import type { JsonValue, SourceField } from "../source";
import type { ColumnDefinition } from "./connection";

/**
 * MySQL result types. A {@link SourceField.typeId} here is this plug-in's own id (not the
 * protocol's MYSQL_TYPE_* number): one per family whose canonical text or JSON differs. The
 * field's `type` is the SQL type's name (`int unsigned`, `tinyint(1)`, `varbinary`, `json`, …).
 */
const TYPE = {
  text: 0, // CHAR, VARCHAR, TEXT, ENUM, TIME, anything else: the text as is
  int: 1, // TINYINT … INT, YEAR: numbers
  bigint: 2, // BIGINT (signed or not): strings, as Postgres' int8 (no precision loss)
  float: 3, // FLOAT, DOUBLE: numbers (the server's shortest text form)
  decimal: 4, // DECIMAL: strings, exact as written
  date: 5, // DATE: YYYY-MM-DD (a zero date stays 0000-00-00)
  datetime: 6, // DATETIME: ISO without an offset (a wall clock, no zone)
  timestamp: 7, // TIMESTAMP: ISO with Z (read in a +00:00 session)
  bool: 8, // TINYINT(1), the BOOLEAN alias: true/false
  json: 9, // JSON (MySQL's type; MariaDB's alias, told by its extended type info): parsed
  binary: 10, // BINARY, VARBINARY, BLOB, GEOMETRY: Postgres' bytea hex text, \x0aff
  bit: 11, // BIT(n): the unsigned integer (text), a number when it fits
  set: 12, // SET: an array of its members
  null: 13, // a bare NULL
} as const;

// Protocol types (MYSQL_TYPE_*, https://dev.mysql.com/doc/dev/mysql-server/latest/field__types_8h.html).
const T = {
  decimal: 0,
  tiny: 1,
  short: 2,
  long: 3,
  float: 4,
  double: 5,
  null: 6,
  timestamp: 7,
  longlong: 8,
  int24: 9,
  date: 10,
  time: 11,
  datetime: 12,
  year: 13,
  newdate: 14,
  varchar: 15,
  bit: 16,
  timestamp2: 17,
  datetime2: 18,
  time2: 19,
  json: 245,
  newdecimal: 246,
  enum: 247,
  set: 248,
  tinyBlob: 249,
  mediumBlob: 250,
  longBlob: 251,
  blob: 252,
  varString: 253,
  string: 254,
  geometry: 255,
} as const;

const UNSIGNED_FLAG = 32;
const ENUM_FLAG = 256;
const SET_FLAG = 2048;
const BINARY_CHARSET = 63;

/** How a column's value becomes canonical text: escaped as is, hex (binary), an integer (bit) or sorted JSON. */
export type ValueForm = "text" | "binary" | "bit" | "json";

/** A result column as a source field, with the form its values take. */
export interface MysqlField extends SourceField {
  form: ValueForm;
}

const integerNames: Record<number, string> = {
  [T.tiny]: "tinyint",
  [T.short]: "smallint",
  [T.int24]: "mediumint",
  [T.long]: "int",
  [T.longlong]: "bigint",
};

/** The field a column definition describes. */
export function mysqlField(c: ColumnDefinition): MysqlField {
  const unsigned = c.flags & UNSIGNED_FLAG ? " unsigned" : "";
  const field = (type: string, typeId: number, form: ValueForm = "text"): MysqlField => ({ name: c.name, type, typeId, form });
  const binary = c.charset === BINARY_CHARSET;
  switch (c.type) {
    case T.tiny:
      return c.length === 1 && !unsigned ? field("tinyint(1)", TYPE.bool) : field(`tinyint${unsigned}`, TYPE.int);
    case T.short:
    case T.int24:
    case T.long:
      return field(`${integerNames[c.type]}${unsigned}`, TYPE.int);
    case T.year:
      return field("year", TYPE.int);
    case T.longlong:
      return field(`bigint${unsigned}`, TYPE.bigint);
    case T.float:
      return field("float", TYPE.float);
    case T.double:
      return field("double", TYPE.float);
    case T.decimal:
    case T.newdecimal:
      return field(`decimal${unsigned}`, TYPE.decimal);
    case T.date:
    case T.newdate:
      return field("date", TYPE.date);
    case T.datetime:
    case T.datetime2:
      return field(c.decimals ? `datetime(${c.decimals})` : "datetime", TYPE.datetime);
    case T.timestamp:
    case T.timestamp2:
      return field(c.decimals ? `timestamp(${c.decimals})` : "timestamp", TYPE.timestamp);
    case T.time:
    case T.time2:
      return field("time", TYPE.text);
    case T.bit:
      return field(`bit(${c.length})`, TYPE.bit, "bit");
    case T.json:
      return field("json", TYPE.json, "json");
    case T.null:
      return field("null", TYPE.null);
    case T.geometry:
      return field(c.format || "geometry", TYPE.binary, "binary");
  }
  if (c.format === "json") return field("json", TYPE.json, "json");
  if (c.flags & SET_FLAG || c.type === T.set) return field("set", TYPE.set);
  if (c.flags & ENUM_FLAG || c.type === T.enum) return field("enum", TYPE.text);
  const blob = c.type === T.blob || c.type === T.tinyBlob || c.type === T.mediumBlob || c.type === T.longBlob;
  if (binary) return field(blob ? "blob" : c.type === T.string ? "binary" : "varbinary", TYPE.binary, "binary");
  if (c.format) return field(c.format, TYPE.text);
  return field(blob ? "text" : c.type === T.string ? "char" : "varchar", TYPE.text);
}

/** One value (its canonical text, see ./text-row.ts) as JSON, by type id (see {@link TYPE}). */
export function jsonValue(typeId: number, raw: string | null): JsonValue {
  if (raw === null) return null;
  switch (typeId) {
    case TYPE.int:
      return Number(raw);
    case TYPE.float: {
      const n = Number(raw);
      return Number.isFinite(n) && raw !== "" ? n : raw;
    }
    case TYPE.bool:
      return Number(raw) !== 0;
    case TYPE.bit: {
      const n = Number(raw);
      return Number.isSafeInteger(n) ? n : raw;
    }
    case TYPE.datetime:
    case TYPE.timestamp: {
      const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)$/.exec(raw);
      return m ? `${m[1]}T${m[2]}${typeId === TYPE.timestamp ? "Z" : ""}` : raw;
    }
    case TYPE.json:
      try {
        return JSON.parse(raw) as JsonValue;
      } catch {
        return raw;
      }
    case TYPE.set:
      return raw === "" ? [] : raw.split(",");
    case TYPE.null:
      return null;
    default:
      return raw;
  }
}
