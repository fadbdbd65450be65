import { z } from "@hono/zod-openapi";
import { WarehouseError } from "../errors";
import { multiLine, type SourcePlugin } from "../source";
import { keyPairAuth, tokenAuth } from "./auth";
import { openSnowflake } from "./queries";
import { jsonValue } from "./values";

/**
 * The Snowflake source, through the SQL API v2 (./api.ts). The account, user and session context
 * are config, returned by the API; the credential is a private key (key-pair JWT, ./auth.ts) or a
 * token (OAuth or programmatic access token), stored encrypted and never returned.
 */

const identifier = z.string().min(1).max(255);

const config = z.object({
  account: z
    .string()
    .max(255)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, {
      message: "must be the account identifier, e.g. xy12345.eu-central-1 or myorg-myaccount",
    })
    .openapi({
      description: "The account identifier: the part of its URL before .snowflakecomputing.com.",
      example: "xy12345.eu-central-1",
    }),
  user: identifier.openapi({ description: "The user the key pair or token belongs to.", example: "RETL" }),
  warehouse: identifier.openapi({ description: "The warehouse that runs the models (case-sensitive).", example: "COMPUTE_WH" }).optional(),
  database: identifier
    .openapi({ description: "The database unqualified names resolve in (case-sensitive).", example: "ANALYTICS" })
    .optional(),
  schema: identifier.openapi({ description: "The schema unqualified names resolve in (case-sensitive).", example: "PUBLIC" }).optional(),
  role: identifier.openapi({ description: "A role with USAGE and SELECT only (case-sensitive).", example: "RETL_READER" }).optional(),
  endpoint: z
    .string()
    .max(2048)
    .refine((s) => /^https?:\/\/[^/\s]+/.test(s) && URL.canParse(s), {
      message: "must be an http:// or https:// URL replacing https://<account>.snowflakecomputing.com",
    })
    .openapi({ description: "Replaces https://<account>.snowflakecomputing.com (private link, proxy, tests)." })
    .optional(),
});

// One of the two (see credentialsIssue); "" stands for "not this one" (an update that switches sends the other as "").
const credentials = z.object({
  private_key: z
    .string()
    .max(16_384)
    .refine((s) => s === "" || /-----BEGIN (ENCRYPTED |RSA )?PRIVATE KEY-----/.test(s), {
      message: "must be a PEM private key (-----BEGIN PRIVATE KEY-----, unencrypted PKCS#8)",
    })
    .openapi({
      description:
        "The user's unencrypted PKCS#8 private key (rsa_key.p8), pasted whole; its public key is set with ALTER USER … SET RSA_PUBLIC_KEY.",
      ...multiLine("application/x-pem-file"),
    })
    .optional(),
  token: z
    .string()
    .max(16_384)
    .openapi({ description: "An OAuth access token or a programmatic access token, instead of a private key." })
    .optional(),
});

const stored = config.extend(credentials.shape);
type Settings = z.infer<typeof stored>;

/** The SQL API's base URL: the endpoint, or the account's public URL. */
function baseUrl(settings: Settings): string {
  return settings.endpoint ?? `https://${settings.account.toLowerCase()}.snowflakecomputing.com`;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    throw new WarehouseError("invalid_connection_string", "the Snowflake endpoint is not a valid http:// or https:// URL");
  }
}

/** The credential in use: the private key when given, else the token. */
function authOf(settings: Settings) {
  if (settings.private_key) return keyPairAuth(settings.account, settings.user, settings.private_key);
  if (settings.token) return tokenAuth(settings.token);
  throw new WarehouseError("auth_failed", "the Snowflake source has no credentials: give credentials.private_key or credentials.token");
}

/** The Snowflake plug-in, as src/sources/registry.ts lists it. */
export const snowflake = {
  type: "snowflake",
  config,
  credentials,
  credentialsIssue: (credentials) => {
    const given = ["private_key", "token"].filter((k) => typeof credentials[k] === "string" && credentials[k] !== "");
    if (given.length === 1) return undefined;
    return {
      field: "private_key",
      message:
        given.length === 0
          ? "give credentials.private_key (key-pair JWT) or credentials.token (OAuth or programmatic access token)"
          : 'give either private_key or token, not both (send the unused one as "")',
    };
  },
  hosts: (settings) => [hostOf(baseUrl(settings))],
  seal: (settings) => {
    const path = [settings.database, settings.schema].filter(Boolean).join("/");
    const how = settings.private_key ? "key-pair" : "token";
    return {
      secret: JSON.stringify(settings),
      masked: `snowflake://${encodeURIComponent(settings.user)}:****@${new URL(baseUrl(settings)).host}/${path} (${how})`,
    };
  },
  unseal: (secret) => stored.parse(JSON.parse(secret)),
  open: (settings, opts) => {
    const { warehouse, database, schema, role } = settings;
    let auth: ReturnType<typeof authOf> | undefined;
    const lazyAuth = {
      // A missing credential fails each call (and the connection test) rather than the opening.
      headers: () => {
        auth ??= authOf(settings);
        return auth.headers();
      },
    };
    return openSnowflake({ baseUrl: baseUrl(settings), auth: lazyAuth, warehouse, database, schema, role, opts });
  },
  jsonValue,
} satisfies SourcePlugin<"snowflake", typeof config, typeof credentials>;
