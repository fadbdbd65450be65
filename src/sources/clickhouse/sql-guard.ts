import { type CommentSyntax, guardModelSql } from "../sql-guard";

/**
 * Model SQL for ClickHouse: the client-side half of the read-only guarantee (the server's
 * `readonly=1` is the other; the HTTP interface also refuses a second statement), and the queries
 * that wrap a model.
 */

const queryLeadingWords = ["select", "with"];
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "alter",
  "create",
  "drop",
  "truncate",
  "rename",
  "exchange",
  "optimize",
  "attach",
  "detach",
  "system",
  "kill",
  "grant",
  "revoke",
  "set",
  "use",
  "backup",
  "restore",
  "undrop",
]);

const COMMENTS: CommentSyntax = { line: ["--", "#"] };

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function clickhouseModelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, comments: COMMENTS });
}

/** A back-quoted ClickHouse identifier (backslash escapes, as ClickHouse writes them). */
function quoteIdent(name: string): string {
  return `\`${name.replaceAll("\\", "\\\\").replaceAll("`", "\\`")}\``;
}

/** `SELECT <columns> FROM (<model>)`: the model as a subquery (a newline keeps a trailing `--` comment inside). */
export function selectFrom(model: string, columns: readonly string[] | "*"): string {
  const list = columns === "*" ? "*" : columns.map(quoteIdent).join(", ");
  return `SELECT ${list} FROM (\n${model}\n)`;
}
