import { z } from "@hono/zod-openapi";
import { localOverride, rateLimit, secret } from "../fields";

/** Customer.io: rows become people keyed by `id` (Track API v2 `/api/v2/batch`, up to 500 KB a call). */
export const CustomerioConfig = z
  .strictObject({
    region: z
      .enum(["us", "eu"])
      .default("us")
      .openapi({ description: "Your account's data center: us (track.customer.io) or eu (track-eu.customer.io)." }),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .openapi({ description: "People per call, 1-1000 (calls also stay under 500 KB)." }),
    api_base: localOverride("the region's Track API URL (e.g. a fake Customer.io)"),
    rate_limit: rateLimit,
  })
  .openapi("CustomerioConfig");
export type CustomerioConfig = z.output<typeof CustomerioConfig>;

// Both are ASCII tokens; anything else cannot travel in a Basic auth header.
const token = () => secret().regex(/^[\x21-\x7e]+$/, { message: "must be printable ASCII without spaces, as Customer.io shows it" });

/** Customer.io Track API credentials (Settings > API Credentials > Track API keys). */
export const CustomerioCredentials = z
  .strictObject({
    site_id: token().openapi({ description: "The workspace's Site ID (the Basic auth user name)." }),
    api_key: token().openapi({ description: "The Track API key paired with the Site ID (the Basic auth password)." }),
  })
  .openapi("CustomerioCredentials");
export type CustomerioCredentials = z.output<typeof CustomerioCredentials>;
