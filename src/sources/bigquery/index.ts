import { multiLine } from "../source";
import { z } from "@hono/zod-openapi";
import { WarehouseError } from "../errors";
import type { SourcePlugin } from "../source";
import { parseServiceAccountKey } from "./key-file";
import { openBigquery } from "./queries";
import { jsonValue } from "./values";

/**
 * The BigQuery source: queries run in `project_id` (the project billed for them) through the REST
 * API, as a service account whose JSON key file is the credential. `endpoint` replaces
 * `https://bigquery.googleapis.com` (private links, proxies, tests).
 */

const config = z.object({
  project_id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[a-z0-9.:_-]+$/i, { message: "must be a Google Cloud project id, e.g. acme-analytics" }),
  location: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9-]+$/i, { message: "must be a BigQuery location, e.g. US, EU or europe-west3" })
    .optional(),
  endpoint: z
    .string()
    .max(2048)
    .refine((s) => /^https?:\/\/[^/\s]+/.test(s) && URL.canParse(s), {
      message: "must be an http:// or https:// URL replacing https://bigquery.googleapis.com",
    })
    .optional(),
});

const credentials = z.object({
  service_account_json: z
    .string()
    .max(16_384)
    .superRefine((text, ctx) => {
      const key = parseServiceAccountKey(text);
      if ("problem" in key) ctx.addIssue({ code: "custom", message: key.problem });
    })
    // The console draws a multi-line secret field for it (a password input would drop the line breaks).
    .openapi({ description: "The service account's JSON key file, pasted whole.", ...multiLine("application/json") }),
});

const stored = config.extend(credentials.shape);

function hostOf(url: string, what: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    throw new WarehouseError("invalid_connection_string", `the ${what} is not a valid http:// or https:// URL`);
  }
}

/** The BigQuery plug-in, as src/sources/registry.ts lists it. */
export const bigquery = {
  type: "bigquery",
  config,
  credentials,
  // The API's host and the key file's token endpoint both go through the SSRF guard.
  hosts: (settings) => {
    const key = parseServiceAccountKey(settings.service_account_json);
    const api = hostOf(settings.endpoint ?? "https://bigquery.googleapis.com", "endpoint");
    return "problem" in key ? [api] : [api, hostOf(key.token_uri, "key file's token_uri")];
  },
  seal: (settings) => {
    const key = parseServiceAccountKey(settings.service_account_json);
    const account = "problem" in key ? "unknown" : key.client_email;
    return { secret: JSON.stringify(settings), masked: `bigquery://${settings.project_id} (${account})` };
  },
  unseal: (secret) => stored.parse(JSON.parse(secret)),
  open: (settings, opts) => openBigquery(settings, opts),
  jsonValue,
} satisfies SourcePlugin<"bigquery", typeof config, typeof credentials>;
