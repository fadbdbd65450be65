import { z } from "@hono/zod-openapi";
import { headers, httpUrl, rateLimit, secret } from "../fields";

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
export type WebhookConfig = z.output<typeof WebhookConfig>;

/** Webhook secrets: a body-signing secret and secret headers, both optional. */
export const WebhookCredentials = z
  .strictObject({
    signing_secret: secret(16)
      .optional()
      .openapi({ description: "When set, each request carries an HMAC-SHA256 signature of its body under this secret." }),
    headers: headers(true).optional().openapi({ description: "Secret headers, e.g. Authorization or X-Api-Key." }),
  })
  .openapi("WebhookCredentials");
export type WebhookCredentials = z.output<typeof WebhookCredentials>;
