import { z } from "@hono/zod-openapi";
import type { DestinationType } from "../db/schema";
import { maskCredentials } from "../lib/secrets";
import { blockedHostReason } from "../lib/ssrf";

/**
 * What each destination type needs: a plain `config` (returned as is) and secret `credentials`
 * (encrypted at rest, only ever returned masked). The body's `type` picks the pair of schemas.
 * The connectors that use these settings live in ./connectors.
 */

/** A field or object name in a vendor API: letters, digits and underscores, starting with a letter. */
const apiName = (what: string, example: string) =>
  z
    .string()
    .max(255)
    .regex(/^[A-Za-z][A-Za-z0-9_]*$/, { message: `must be ${what} (letters, digits, underscores), e.g. "${example}"` });

/** An unquoted-style Postgres identifier; the connector quotes it, so case is kept. */
const pgIdentifier = (example: string) =>
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, {
    message: `must be a Postgres identifier of up to 63 letters, digits, _ or $, e.g. "${example}"`,
  });

const secret = (min = 1) => z.string().min(min).max(4096);

// Header names are RFC 9110 tokens; values must not smuggle a line break.
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/, { message: "must be a valid HTTP header name" });
const headerValue = z
  .string()
  .max(4096)
  .regex(/^[^\r\n\0]*$/, { message: "must not contain line breaks" });

// Set by the connector itself; a user value would corrupt the request.
const RESERVED_HEADERS = new Set(["host", "content-length", "content-type", "transfer-encoding", "connection"]);
// Values of these belong in credentials.headers, where they are encrypted and masked.
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|token|secret|api[-_]?key|password/i;

const headers = (allowSecret: boolean) =>
  z.record(headerName, headerValue).superRefine((h, ctx) => {
    for (const name of Object.keys(h)) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        ctx.addIssue({ code: "custom", path: [name], message: `"${name}" is set by the connector and cannot be overridden` });
      } else if (!allowSecret && SECRET_HEADER.test(name)) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `"${name}" looks like a secret; put it in credentials.headers, which are encrypted and never returned`,
        });
      }
    }
    if (Object.keys(h).length > 50) ctx.addIssue({ code: "custom", message: "at most 50 headers" });
  });

const httpUrl = z
  .string()
  .max(2048)
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { message: "must be an http:// or https:// URL" })
  // config is returned as is, so a password in the URL would leak.
  .refine((s) => !URL.canParse(s) || (new URL(s).username === "" && new URL(s).password === ""), {
    message: "must not carry a user or password; put an Authorization header in credentials.headers",
  });

/**
 * Requests per second and requests in flight allowed against the destination account, shared by
 * every sync that writes to it (enforced per destination by the DestinationLimiter). Each field
 * left out takes the vendor's documented limit (the connector's default).
 */
export const RateLimitConfig = z
  .strictObject({
    requests_per_second: z.number().min(0.1).max(1000).optional().openapi({ description: "0.1-1000; bursts up to one second's worth." }),
    concurrency: z.number().int().min(1).max(100).optional().openapi({ description: "Requests in flight at once, 1-100." }),
  })
  .openapi("DestinationRateLimit");

const rateLimit = RateLimitConfig.optional().openapi({
  description: "Overrides the vendor's default rate limit for this destination account.",
});

/** Webhook: rows are POSTed as JSON batches to `url`. */
export const WebhookConfig = z
  .strictObject({
    url: httpUrl.openapi({ example: "https://hooks.example.com/crm" }),
    headers: headers(false).optional().openapi({ description: "Extra non-secret headers; secret ones go in credentials.headers." }),
    batch_size: z.number().int().min(1).max(1000).default(100).openapi({ description: "Rows per request, 1-1000." }),
    timeout_ms: z.number().int().min(100).max(60_000).default(10_000).openapi({ description: "Per-request timeout." }),
    rate_limit: rateLimit,
  })
  .openapi("WebhookConfig");

/** Webhook secrets: a body-signing secret and secret headers, both optional. */
export const WebhookCredentials = z
  .strictObject({
    signing_secret: secret(16)
      .optional()
      .openapi({ description: "When set, each request carries an HMAC-SHA256 signature of its body under this secret." }),
    headers: headers(true).optional().openapi({ description: "Secret headers, e.g. Authorization or X-Api-Key." }),
  })
  .openapi("WebhookCredentials");

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

// Only Salesforce's own domains may receive the OAuth token (My Domain, sandboxes, Government Cloud).
const SALESFORCE_HOST = /(^|\.)(salesforce\.com|force\.com|salesforce\.mil|cloudforce\.com)$/i;

function isSalesforceUrl(s: string): boolean {
  return URL.canParse(s) && new URL(s).protocol === "https:" && SALESFORCE_HOST.test(new URL(s).hostname);
}

/** An http(s) URL on a literal private/loopback host: where local fakes of vendor APIs live. */
function isLocalUrl(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const url = new URL(s);
  return /^https?:$/.test(url.protocol) && url.username === "" && url.password === "" && isPrivateHost(url.hostname);
}

const localUrl = z
  .string()
  .max(2048)
  .refine(isLocalUrl, { message: "must be an http(s) URL on a private or loopback host (local development only)" });

/** Salesforce: rows are upserted into an sObject by an External ID field (sObject Collections, 200 per call). */
export const SalesforceConfig = z
  .strictObject({
    instance_url: z
      .string()
      .max(2048)
      // A private/loopback URL is a local stand-in (a fake org); checkReachable refuses it unless ALLOW_PRIVATE_DESTINATIONS.
      .refine((s) => isSalesforceUrl(s) || isLocalUrl(s), {
        message: "must be your https:// Salesforce instance URL, e.g. https://acme.my.salesforce.com",
      })
      .openapi({ description: "https://…salesforce.com (or force.com). In local development, also a private/loopback http(s) URL." }),
    object: apiName("an sObject API name", "Contact").openapi({ example: "Contact", description: "Custom objects end in __c." }),
    external_id_field: apiName("a field API name", "External_Id__c").openapi({
      description: "External ID field the upsert matches on.",
    }),
    api_version: z
      .string()
      .regex(/^v\d{2,3}\.0$/, { message: 'must look like "v60.0"' })
      .default("v60.0"),
    batch_size: z.number().int().min(1).max(200).default(200).openapi({ description: "Records per call, 1-200." }),
    rate_limit: rateLimit,
  })
  .openapi("SalesforceConfig");

const REFRESH_FIELDS = ["refresh_token", "client_id", "client_secret"] as const;

/** Either an access token, or a connected app's refresh token with its client id and secret (or both). */
export const SalesforceCredentials = z
  .strictObject({
    access_token: secret().optional(),
    refresh_token: secret().optional(),
    client_id: secret().optional(),
    client_secret: secret().optional(),
  })
  .superRefine((c, ctx) => {
    const refreshGiven = REFRESH_FIELDS.some((f) => c[f] !== undefined);
    if (c.access_token !== undefined && !refreshGiven) return;
    for (const f of REFRESH_FIELDS) {
      if (c[f] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [f],
          message: refreshGiven
            ? `required with ${REFRESH_FIELDS.filter((g) => g !== f).join(" and ")}`
            : "give access_token, or refresh_token with client_id and client_secret",
        });
      }
    }
  })
  .openapi("SalesforceCredentials");

const HUBSPOT_OBJECTS = ["contacts", "companies", "deals", "tickets"] as const;

/** HubSpot: rows are upserted into a CRM object by a unique property (batch upsert, 100 per call). */
export const HubspotConfig = z
  .strictObject({
    object_type: z
      .string()
      .refine((s) => (HUBSPOT_OBJECTS as readonly string[]).includes(s) || /^2-\d+$/.test(s) || /^p\d+_[a-z][a-z0-9_]*$/.test(s), {
        message: `must be one of ${HUBSPOT_OBJECTS.join(", ")}, or a custom object type id like "2-3508482"`,
      })
      .openapi({ example: "contacts" }),
    id_property: z
      .string()
      .max(100)
      .regex(/^[a-z][a-z0-9_]*$/, { message: 'must be a property\'s internal name, e.g. "email"' })
      .openapi({ description: "Unique property the upsert matches on (email for contacts, or a unique custom property)." }),
    batch_size: z.number().int().min(1).max(100).default(100).openapi({ description: "Records per call, 1-100." }),
    api_base: localUrl.optional().openapi({
      description:
        "Local development only: a private/loopback base URL replacing https://api.hubapi.com (e.g. a fake HubSpot). Refused unless the deployment sets ALLOW_PRIVATE_DESTINATIONS.",
    }),
    rate_limit: rateLimit,
  })
  .openapi("HubspotConfig");

/** HubSpot secrets: a private app token with write scopes on the object. */
export const HubspotCredentials = z
  .strictObject({ access_token: secret().openapi({ description: "A private app access token (pat-…)." }) })
  .openapi("HubspotCredentials");

/** The config and credentials schemas of each destination type, and whether credentials are required. */
export const destinationSettings = {
  webhook: { config: WebhookConfig, credentials: WebhookCredentials, credentialsRequired: false },
  postgres: { config: PostgresConfig, credentials: PostgresCredentials, credentialsRequired: true },
  salesforce: { config: SalesforceConfig, credentials: SalesforceCredentials, credentialsRequired: true },
  hubspot: { config: HubspotConfig, credentials: HubspotCredentials, credentialsRequired: true },
} as const satisfies Record<DestinationType, { config: z.ZodType; credentials: z.ZodType; credentialsRequired: boolean }>;

/** Parsed config of a destination type, defaults applied: what its connector receives. */
export type DestinationConfig<T extends DestinationType> = z.infer<(typeof destinationSettings)[T]["config"]>;
/** Parsed credentials of a destination type, after decryption: what its connector receives. */
export type DestinationCredentials<T extends DestinationType> = z.infer<(typeof destinationSettings)[T]["credentials"]>;

/** A bad field, with its dotted path from the request body (e.g. "config.url"). */
export interface SettingsProblem {
  path: string;
  message: string;
}

function problemsOf(prefix: string, error: z.ZodError): SettingsProblem[] {
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].join("."), message: i.message }));
}

/** The outcome of validating a settings part: the parsed value (defaults applied) or each bad field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: SettingsProblem[] };

/** Validates `config` against its type's schema, applying defaults. */
export function parseConfig(type: DestinationType, config: unknown): Parsed<Record<string, unknown>> {
  const result = destinationSettings[type].config.safeParse(config);
  return result.success ? { ok: true, value: result.data } : { ok: false, problems: problemsOf("config", result.error) };
}

/** Validates `credentials` against its type's schema; absent (`null`) is a problem only where credentials are required. */
export function parseCredentials(type: DestinationType, credentials: unknown): Parsed<Record<string, unknown> | null> {
  const settings = destinationSettings[type];
  if (credentials === undefined || credentials === null) {
    return settings.credentialsRequired
      ? { ok: false, problems: [{ path: "credentials", message: `a ${type} destination needs credentials` }] }
      : { ok: true, value: null };
  }
  const result = settings.credentials.safeParse(credentials);
  return result.success ? { ok: true, value: result.data } : { ok: false, problems: problemsOf("credentials", result.error) };
}

/**
 * Credentials as safe-to-return masked values. Nested maps (webhook secret headers) are flattened
 * to dotted paths, e.g. `{"headers.X-Api-Key": "****"}`, in the same notation as error details.
 */
export function maskDestinationCredentials(credentials: Record<string, unknown>): Record<string, string> {
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(credentials)) {
    if (value === undefined) continue;
    if (value !== null && typeof value === "object") {
      for (const [inner, v] of Object.entries(value)) flat[`${key}.${inner}`] = v;
    } else {
      flat[key] = value;
    }
  }
  return maskCredentials(flat);
}

/**
 * Where this destination would send data that is a private, loopback or link-local address (and
 * a HubSpot `api_base` override, which exists only for local fakes), as problems to refuse at save
 * time unless ALLOW_PRIVATE_DESTINATIONS. The connector re-checks the resolved address at send
 * time; this only catches literal hosts early.
 */
export function privateAddressProblems(
  type: DestinationType,
  config: Record<string, unknown>,
  credentials: Record<string, unknown> | null,
): SettingsProblem[] {
  const targets: { path: string; url: unknown }[] = [];
  if (type === "webhook") targets.push({ path: "config.url", url: config.url });
  if (type === "postgres" && credentials) targets.push({ path: "credentials.connection_string", url: credentials.connection_string });
  if (type === "salesforce") targets.push({ path: "config.instance_url", url: config.instance_url });
  const problems: SettingsProblem[] = [];
  for (const { path, url } of targets) {
    if (typeof url === "string" && URL.canParse(url) && isPrivateHost(new URL(url).hostname)) {
      problems.push({ path, message: "points at a private, loopback or link-local address, which destinations may not use" });
    }
  }
  // The token may only ever go to HubSpot itself outside local development.
  if (type === "hubspot" && config.api_base !== undefined) {
    problems.push({
      path: "config.api_base",
      message: "is for local development only (ALLOW_PRIVATE_DESTINATIONS); remove it to use https://api.hubapi.com",
    });
  }
  return problems;
}

/**
 * Whether a URL hostname is a private/loopback/link-local address or a local-only name: the same
 * judgement as the send-time SSRF guard, so nothing saved here is refused later (or the reverse).
 */
export function isPrivateHost(hostname: string): boolean {
  return blockedHostReason(hostname) !== undefined;
}
