import { parquetWriteBuffer } from "hyparquet-writer";
import type { OperationKind } from "../destination";
import type { FileFormat } from "./schema";

/** One output row: `_op` (changes only), `_key`, then the sync's mapped fields. */
export type FileRow = Record<string, unknown>;

/** A column's type in the manifest, as read from its values (Parquet writes it so). */
export type ColumnType = "string" | "number" | "boolean" | "json";

/** File name extension and content type of each format. */
export const FORMAT_FILES: Record<FileFormat, { extension: string; contentType: string }> = {
  csv: { extension: "csv", contentType: "text/csv; charset=utf-8; header=present" },
  ndjson: { extension: "ndjson", contentType: "application/x-ndjson; charset=utf-8" },
  parquet: { extension: "parquet", contentType: "application/vnd.apache.parquet" },
};

/** What a staged part holds per line: one operation, as the batch carried it. */
export interface StagedOperation {
  op: OperationKind;
  key: string;
  fields: Record<string, unknown>;
}

/**
 * Builds one output file, row by row. CSV and NDJSON are encoded as rows arrive (memory is the
 * file's bytes); Parquet keeps the file's values by column until it is written.
 */
export class FileBuilder {
  private readonly chunks: Uint8Array[] = [];
  private readonly values: unknown[][];
  private readonly encoder = new TextEncoder();
  /** Rows added. */
  rows = 0;
  /** Bytes so far (for Parquet: of the rows as JSON, an upper bound of the file). */
  size = 0;

  constructor(
    private readonly format: FileFormat,
    private readonly columns: readonly string[],
  ) {
    this.values = columns.map(() => []);
    if (format === "csv") this.push(`${columns.map(csvField).join(",")}\r\n`);
  }

  add(row: FileRow): void {
    this.rows += 1;
    if (this.format === "csv") this.push(`${this.columns.map((c) => csvField(row[c])).join(",")}\r\n`);
    else if (this.format === "ndjson") this.push(`${JSON.stringify(Object.fromEntries(this.columns.map((c) => [c, row[c] ?? null])))}\n`);
    else {
      for (const [i, c] of this.columns.entries()) this.values[i]?.push(row[c] ?? null);
      this.size += JSON.stringify(row).length;
    }
  }

  /** The file's bytes. */
  finish(): Uint8Array {
    if (this.format === "parquet") {
      const columnData = this.columns.map((name, i) => parquetColumn(name, this.values[i] ?? []));
      return new Uint8Array(parquetWriteBuffer({ columnData }));
    }
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  private push(text: string): void {
    const bytes = this.encoder.encode(text);
    this.chunks.push(bytes);
    this.size += bytes.length;
  }
}

/** An RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled; null is empty. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The type of a column's values: one kind throughout, else strings (objects as JSON). */
export function columnType(values: readonly unknown[]): ColumnType {
  let type: ColumnType | undefined;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    const t: ColumnType = typeof v === "number" ? "number" : typeof v === "boolean" ? "boolean" : typeof v === "object" ? "json" : "string";
    if (type === undefined) type = t;
    else if (type !== t) return "string";
  }
  return type ?? "string";
}

function parquetColumn(name: string, values: unknown[]) {
  const type = columnType(values);
  if (type === "number") return { name, data: values as (number | null)[], type: "DOUBLE" as const };
  if (type === "boolean") return { name, data: values as (boolean | null)[], type: "BOOLEAN" as const };
  const data = values.map((v) => (v === null || v === undefined ? null : typeof v === "object" ? JSON.stringify(v) : String(v)));
  return { name, data, type: "STRING" as const };
}
