import { type CommentSyntax, guardModelSql } from "../sql-guard";

/**
 * Model SQL: the first line of the read-only guarantee (a model must be one query; the read-only
 * transaction and the extended query protocol's one statement per message are the others), and
 * the query that wraps a model to read chosen columns.
 */

const queryLeadingWords = ["select", "with", "values", "table"];
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "create",
  "drop",
  "alter",
  "truncate",
  "grant",
  "revoke",
  "copy",
  "call",
  "do",
  "comment",
  "refresh",
  "reindex",
  "vacuum",
  "cluster",
  "lock",
  "import",
  "security",
]);

const COMMENTS: CommentSyntax = { line: ["--"], nested: true };

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function modelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, comments: COMMENTS });
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The query whose rows are `columns` of the model, in that order (a column may be named twice):
 * the model as a subquery. `modelAt` is where the model's SQL starts in `text` (to map error
 * positions back onto it). A missing column fails it in Postgres.
 */
export function copySelect(model: string, columns: readonly string[]): { text: string; modelAt: number } {
  const prefix = `SELECT ${columns.map(quoteIdent).join(", ")} FROM (\n`;
  return { text: `${prefix}${model}\n) AS model`, modelAt: prefix.length };
}
