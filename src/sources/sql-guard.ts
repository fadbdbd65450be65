import { WarehouseError } from "./errors";

/** What a warehouse's SQL looks like to the model guard: which statements are queries, which write. */
export interface ModelSqlDialect {
  /** Leading keywords of a query (lower case), in the order the error message names them. */
  queries: readonly string[];
  /** Leading keywords of statements that write or change the session (lower case). */
  writes: ReadonlySet<string>;
  /** The first keyword of `sql`, skipping whitespace, the dialect's comments and `(`. */
  leadingWord(sql: string): string | undefined;
}

/**
 * The model SQL without one trailing `;`, refusing statements that are not queries: the client-side
 * half of every source's read-only guarantee (the warehouse's own read-only setting is the other).
 */
export function guardModelSql(sql: string, dialect: ModelSqlDialect): string {
  const model = sql.trim().replace(/;\s*$/, "").trimEnd();
  const word = dialect.leadingWord(model);
  if (!word) throw new WarehouseError("query_failed", "the model SQL is empty");
  if (dialect.writes.has(word))
    throw new WarehouseError("read_only", `a model must be a read-only query; ${word.toUpperCase()} statements are not allowed`);
  if (!dialect.queries.includes(word)) {
    const names = dialect.queries.map((w) => w.toUpperCase());
    const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : (names[0] ?? "");
    throw new WarehouseError("query_failed", `a model must be a query starting with ${list}, not ${word.toUpperCase()}`);
  }
  return model;
}
