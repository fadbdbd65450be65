import { z } from "@hono/zod-openapi";
import { maskConnectionString } from "../../lib/secrets";
import { parseConnectionString } from "../postgres/connection";
import { openPostgres, postgres } from "../postgres";
import type { SourcePlugin } from "../source";

/**
 * The Redshift source: Redshift speaks the Postgres protocol, so this is the Postgres client
 * (src/sources/postgres) with extraction on the cursor route, forced: Redshift has no
 * `COPY … TO STDOUT`. The request is the Postgres one with `type: "redshift"` and the cluster's
 * URL (`postgres://user:password@cluster.….redshift.amazonaws.com:5439/dev`).
 */

const config = z.object({});
const credentials = postgres.credentials.extend({
  connection_string: postgres.credentials.shape.connection_string.openapi({
    description: "The cluster's URL, for a user with SELECT on the models' tables. Encrypted at rest, returned masked.",
    example: "postgres://retl_reader:password@cluster.abc123.eu-central-1.redshift.amazonaws.com:5439/dev",
  }),
});

/** The Redshift plug-in, as src/sources/registry.ts lists it. */
export const redshift = {
  type: "redshift",
  config,
  credentials,
  hosts: (settings) => [parseConnectionString(settings.connection_string).host],
  seal: (settings) => ({ secret: settings.connection_string, masked: maskConnectionString(settings.connection_string) }),
  unseal: (secret) => ({ connection_string: secret }),
  open: (settings, opts) => openPostgres(settings.connection_string, opts, "cursor", "redshift"),
  jsonValue: postgres.jsonValue,
} satisfies SourcePlugin<"redshift", typeof config, typeof credentials>;
