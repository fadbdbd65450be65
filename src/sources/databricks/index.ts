import { z } from "@hono/zod-openapi";
import { WarehouseError } from "../errors";
import type { SourcePlugin } from "../source";
import { openDatabricks } from "./queries";
import { jsonValue } from "./types";

/**
 * The Databricks source: a Databricks SQL warehouse reached through the SQL Statement Execution
 * API (see ./statement.ts). The workspace URL, warehouse, catalog and schema are config, returned
 * by the API; the credential is a personal access token, or a service principal's OAuth M2M
 * client id and secret (one or the other).
 */

const config = z.object({
  host: z
    .string()
    .max(2048)
    .refine((s) => /^https?:\/\/[^/\s]+/.test(s) && URL.canParse(s), {
      message: "must be the workspace URL, e.g. https://dbc-a1b2c3d4-e5f6.cloud.databricks.com",
    }),
  warehouse_id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/, "must be the SQL warehouse's ID (letters, digits, - and _), as in its connection details"),
  catalog: z.string().min(1).max(255).optional(),
  schema: z.string().min(1).max(255).optional(),
});

// One of the two modes; which one is checked when the settings are sealed (a zod refinement here
// would break the update body's `.partial()`).
const credentials = z.object({
  token: z.string().min(1).max(4096).optional().openapi({ description: "A personal access token (dapi…)." }),
  client_id: z.string().min(1).max(256).optional().openapi({ description: "OAuth M2M: the service principal's client (application) ID." }),
  client_secret: z.string().min(1).max(4096).optional().openapi({ description: "OAuth M2M: the service principal's OAuth secret." }),
});

const stored = config.extend(credentials.shape);

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    throw new WarehouseError("invalid_connection_string", "the Databricks host is not a valid https:// URL");
  }
}

/** Neither or both credential modes: the API answers a 400 naming the field (SourcePlugin.credentialsIssue). */
function credentialsProblem(c: Record<string, unknown>): { field: string; message: string } | undefined {
  const oauth = c.client_id !== undefined || c.client_secret !== undefined;
  if (c.token !== undefined && oauth) return { field: "token", message: "give either token or client_id and client_secret, not both" };
  if (c.token !== undefined || (c.client_id && c.client_secret)) return undefined;
  return oauth
    ? { field: c.client_id ? "client_secret" : "client_id", message: "OAuth M2M needs both client_id and client_secret" }
    : {
        field: "token",
        message: "give token (a personal access token) or client_id and client_secret (a service principal's OAuth secret)",
      };
}

/** The Databricks plug-in, as src/sources/registry.ts lists it. */
export const databricks = {
  type: "databricks",
  config,
  credentials,
  credentialsIssue: credentialsProblem,
  hosts: (settings) => [hostOf(settings.host)],
  seal: (settings) => {
    const url = new URL(settings.host);
    const who = settings.token !== undefined ? "token ****" : `client_id ${settings.client_id}, secret ****`;
    return {
      secret: JSON.stringify(settings),
      masked: `${url.protocol}//${url.host} warehouse ${settings.warehouse_id} (${who})`,
    };
  },
  unseal: (secret) => stored.parse(JSON.parse(secret)),
  open: (settings, opts) => openDatabricks(settings, opts),
  jsonValue,
} satisfies SourcePlugin<"databricks", typeof config, typeof credentials>;
