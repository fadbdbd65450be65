import { z } from "@hono/zod-openapi";
import { WarehouseError } from "../errors";
import type { SourcePlugin } from "../source";
import { openClickhouse } from "./queries";
import { jsonValue } from "./types";

/**
 * The ClickHouse source: any ClickHouse reached over its HTTP interface (`http://host:8123`,
 * `https://host:8443`, ClickHouse Cloud). The password is the credential; the URL, database and
 * user are config, returned by the API.
 */

const config = z.object({
  url: z
    .string()
    .max(2048)
    .refine((s) => /^https?:\/\/[^/\s]+/.test(s) && URL.canParse(s), {
      message: "must be the HTTP interface's http:// or https:// URL, e.g. https://host:8443",
    })
    .openapi({ description: "The HTTP interface's URL (8123 plain, 8443 TLS).", example: "https://host.clickhouse.cloud:8443" }),
  database: z.string().min(1).max(256).openapi({ description: "The database unqualified table names resolve in.", example: "default" }),
  username: z.string().min(1).max(256).openapi({ description: "A user with SELECT on the models' tables.", example: "retl" }),
});

// Empty for a user without a password (ClickHouse's `default` user out of the box).
const credentials = z.object({
  password: z.string().max(1024).openapi({ description: "The user's password; empty for a user without one." }),
});

const stored = config.extend(credentials.shape);

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    throw new WarehouseError("invalid_connection_string", "the ClickHouse URL is not a valid http:// or https:// URL");
  }
}

/** The ClickHouse plug-in, as src/sources/registry.ts lists it. */
export const clickhouse = {
  type: "clickhouse",
  config,
  credentials,
  hosts: (settings) => [hostOf(settings.url)],
  seal: (settings) => {
    const url = new URL(settings.url);
    return {
      secret: JSON.stringify(settings),
      masked: `${url.protocol}//${encodeURIComponent(settings.username)}:****@${url.host}/${settings.database}`,
    };
  },
  unseal: (secret) => stored.parse(JSON.parse(secret)),
  open: (settings, opts) => openClickhouse(settings, opts),
  jsonValue,
} satisfies SourcePlugin<"clickhouse", typeof config, typeof credentials>;
