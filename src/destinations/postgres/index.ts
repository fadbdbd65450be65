import type { Destination } from "../destination";
import { postgresConnector } from "./connector";
import { PostgresConfig, PostgresCredentials } from "./schema";

/** Postgres destination: rows upserted into a table over the Postgres wire protocol. */
export const postgres: Destination<"postgres", PostgresConfig, PostgresCredentials> = {
  type: "postgres",
  config: PostgresConfig,
  credentials: PostgresCredentials,
  modes: ["upsert", "mirror", "append", "update"],
  credentialsRequired: true,
  // The host is in the connection string: only checkable when credentials are being set.
  hosts: (_config, credentials) => (credentials ? [{ path: "credentials.connection_string", url: credentials.connection_string }] : []),
  connector: postgresConnector,
};
