import { z } from "@hono/zod-openapi";
import { rateLimit } from "../fields";

/** An unquoted-style Postgres identifier; the connector quotes it, so case is kept. */
const pgIdentifier = (example: string) =>
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, {
    message: `must be a Postgres identifier of up to 63 letters, digits, _ or $, e.g. "${example}"`,
  });

/** Postgres: rows are upserted into `schema.table` keyed by `key_column`. */
export const PostgresConfig = z
  .strictObject({
    schema: pgIdentifier("public").default("public"),
    table: pgIdentifier("customers"),
    key_column: pgIdentifier("id").openapi({ description: "Column with a unique constraint that upserts match on." }),
    batch_size: z.number().int().min(1).max(5000).default(500).openapi({ description: "Rows per statement, 1-5000." }),
    rate_limit: rateLimit,
  })
  .openapi("PostgresDestinationConfig");
export type PostgresConfig = z.output<typeof PostgresConfig>;

/** Postgres destination secrets: the connection string of a role that may write the table. */
export const PostgresCredentials = z
  .strictObject({
    connection_string: z
      .string()
      .max(4096)
      .refine((s) => /^postgres(ql)?:\/\/[^/\s]+/.test(s) && URL.canParse(s), {
        message: "must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/db",
      }),
  })
  .openapi("PostgresDestinationCredentials");
export type PostgresCredentials = z.output<typeof PostgresCredentials>;
