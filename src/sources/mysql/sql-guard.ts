import { type CommentSyntax, guardModelSql } from "../sql-guard";

/**
 * Model SQL for MySQL: the client-side half of the read-only guarantee (the read-only transaction
 * is the other; the session never allows several statements in one query), and the queries that
 * wrap a model as a derived table, which also refuses `INTO OUTFILE` and `FOR UPDATE` inside it.
 */

const queryLeadingWords = ["select", "with", "values", "table"];
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "replace",
  "create",
  "drop",
  "alter",
  "truncate",
  "rename",
  "grant",
  "revoke",
  "set",
  "call",
  "do",
  "load",
  "lock",
  "unlock",
  "handler",
  "flush",
  "kill",
  "install",
  "uninstall",
  "optimize",
  "repair",
  "analyze",
  "purge",
  "reset",
  "start",
  "begin",
  "commit",
  "rollback",
  "savepoint",
  "release",
  "use",
  "prepare",
  "execute",
  "deallocate",
  "xa",
  "shutdown",
  "change",
  "import",
  "backup",
]);

// An executable comment (`/*! … */`, `/*M! … */`) is SQL the server runs: only its opener is skipped.
const COMMENTS: CommentSyntax = { line: ["--", "#"], executable: /^\/\*M?!\d*/ };

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function mysqlModelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, comments: COMMENTS });
}

/** A back-quoted identifier. */
function quoteIdent(name: string): string {
  return `\`${name.replaceAll("`", "``")}\``;
}

/** `SELECT <columns> FROM (<model>) AS model`: a newline keeps a trailing `--` comment inside. */
export function selectFrom(model: string, columns: readonly string[] | "*"): string {
  const list = columns === "*" ? "*" : columns.map(quoteIdent).join(", ");
  return `SELECT ${list} FROM (\n${model}\n) AS model`;
}
