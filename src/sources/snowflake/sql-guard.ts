import { type CommentSyntax, guardModelSql } from "../sql-guard";

/**
 * Model SQL for Snowflake: the client-side half of the read-only guarantee. The others: the model
 * runs only as a subquery (`SELECT … FROM (<model>) AS model`, where Snowflake's grammar takes a
 * query and nothing else), `MULTI_STATEMENT_COUNT` 1, the check of what Snowflake reports before
 * rows are read (./api.ts), and a role with USAGE and SELECT only (README).
 */

const queryLeadingWords = ["select", "with"];
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "copy",
  "put",
  "get",
  "remove",
  "create",
  "drop",
  "alter",
  "truncate",
  "undrop",
  "grant",
  "revoke",
  "call",
  "execute",
  "use",
  "set",
  "unset",
  "begin",
  "commit",
  "rollback",
  "comment",
]);

const COMMENTS: CommentSyntax = { line: ["--", "//"] };

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function snowflakeModelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, comments: COMMENTS });
}

/** `SELECT * FROM (<model>) AS model`: a newline keeps a trailing `--` comment inside. */
export function selectAll(model: string): string {
  return `SELECT * FROM (\n${model}\n) AS model`;
}
