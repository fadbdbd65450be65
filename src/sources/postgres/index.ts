import { z } from "@hono/zod-openapi";
import { maskConnectionString } from "../../lib/secrets";
import type { Source, SourcePlugin, WarehouseOptions } from "../source";
import { type PostgresOptions, parseConnectionString } from "./connection";
import { type CopyVia, copyQuery } from "./copy";
import { keysetCheap, keysetQuery } from "./keyset";
import { describeQuery, estimateRows, previewQuery, testConnection } from "./queries";
import { jsonValue } from "./types";

/**
 * The Postgres source: any Postgres reached by a `postgres://` URL (Neon over its WebSocket, the
 * rest over TCP with TLS per `sslmode`). The whole URL is the credential: it holds the password,
 * so it is stored encrypted and returned masked.
 */

const config = z.object({});

const credentials = z.object({
  connection_string: z
    .string()
    .max(4096)
    .refine((s) => /^postgres(ql)?:\/\/[^/\s]+/.test(s) && URL.canParse(s), {
      message: "must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/db",
    })
    .openapi({
      description: "The URL of a role that may read the models' tables; `sslmode` picks TLS. Encrypted at rest, returned masked.",
      example: "postgres://retl_reader:password@db.example.com:5432/analytics?sslmode=require",
    }),
});

/**
 * A Postgres {@link Source} on a connection string. `via` is extraction's route: `copy` (default)
 * or cursor pages (the default for Neon, whose WebSocket cannot be paused; also for tests).
 * `flavor: "redshift"` leaves out what Redshift lacks (see {@link PostgresOptions}).
 */
export function openPostgres(
  connectionString: string,
  warehouse: WarehouseOptions & Pick<PostgresOptions, "webSocketProxy">,
  via?: CopyVia,
  flavor: PostgresOptions["flavor"] = "postgres",
): Source {
  const opts: PostgresOptions = { ...warehouse, flavor };
  return {
    test: () => testConnection(connectionString, opts),
    describe: (sql) => describeQuery(connectionString, sql, opts),
    preview: (sql, limit) => previewQuery(connectionString, sql, limit, opts),
    estimateRows: (sql) => estimateRows(connectionString, sql, opts),
    extract: (sql, handler) => copyQuery(connectionString, sql, opts, handler, via),
    keyset: {
      cheap: (sql, key, pageRows) => keysetCheap(connectionString, sql, key, pageRows, opts),
      extract: (sql, read, handler) =>
        // COPY on every route, Neon's WebSocket too: a page bounds what arrives while the socket cannot be paused.
        keysetQuery(connectionString, sql, opts, read, handler, via ?? "copy"),
    },
  };
}

/** The Postgres plug-in, as src/sources/registry.ts lists it. */
export const postgres = {
  type: "postgres",
  config,
  credentials,
  hosts: (settings) => [parseConnectionString(settings.connection_string).host],
  seal: (settings) => ({ secret: settings.connection_string, masked: maskConnectionString(settings.connection_string) }),
  // Stored as the bare URL (as before plug-ins), not as JSON.
  unseal: (secret) => ({ connection_string: secret }),
  open: (settings, opts) => openPostgres(settings.connection_string, opts),
  jsonValue,
} satisfies SourcePlugin<"postgres", typeof config, typeof credentials>;
