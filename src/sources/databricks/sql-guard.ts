import { type CommentSyntax, guardModelSql } from "../sql-guard";

/**
 * Model SQL for Databricks: the client-side half of the read-only guarantee. The Statement
 * Execution API does not report a statement's type before it runs (its response has state,
 * manifest and result only), so instead every statement we send is
 * `SELECT … FROM (<model>) AS retl_model`: a model that is not a query cannot parse inside a
 * subquery, and the API runs one statement per call. The role's grants (SELECT only, see the
 * README) are the other half.
 */

const queryLeadingWords = ["select", "with", "values", "table"];
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "create",
  "replace",
  "drop",
  "alter",
  "truncate",
  "copy",
  "optimize",
  "vacuum",
  "refresh",
  "repair",
  "msck",
  "restore",
  "clone",
  "comment",
  "grant",
  "revoke",
  "deny",
  "set",
  "reset",
  "use",
  "cache",
  "uncache",
  "analyze",
  "add",
  "call",
  "execute",
  "declare",
  "begin",
  "undrop",
  "sync",
  "generate",
  "fsck",
  "convert",
  "reorg",
]);

const COMMENTS: CommentSyntax = { line: ["--"] };

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function databricksModelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, comments: COMMENTS });
}

/** A back-quoted Databricks identifier (a back quote inside is doubled). */
function quoteIdent(name: string): string {
  return `\`${name.replaceAll("`", "``")}\``;
}

/** `SELECT <columns> FROM (<model>) AS retl_model`: a newline keeps a trailing `--` comment inside. */
export function selectFrom(model: string, columns: readonly string[] | "*"): string {
  const list = columns === "*" ? "*" : columns.map(quoteIdent).join(", ");
  return `SELECT ${list} FROM (\n${model}\n) AS retl_model`;
}
