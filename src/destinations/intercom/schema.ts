import { z } from "@hono/zod-openapi";
import { localOverride, rateLimit, secret } from "../fields";

/** Intercom's regional API hosts (a workspace lives in one region). */
export const INTERCOM_REGIONS = {
  us: "https://api.intercom.io",
  eu: "https://api.eu.intercom.io",
  au: "https://api.au.intercom.io",
} as const;

/** Intercom: contacts created or updated by external_id, archived on delete; one contact per request. */
export const IntercomConfig = z
  .strictObject({
    region: z
      .enum(["us", "eu", "au"])
      .default("us")
      .openapi({ description: "Where the workspace is hosted: us (api.intercom.io), eu (api.eu.intercom.io) or au (api.au.intercom.io)." }),
    role: z
      .enum(["user", "lead"])
      .default("user")
      .openapi({ description: "The role of contacts this destination creates (users are identified by external_id)." }),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(20)
      .openapi({ description: "Contacts per batch, 1-50 (Intercom writes one contact per request; a batch is up to two requests a row)." }),
    api_base: localOverride("the region's host (e.g. a fake Intercom)"),
    rate_limit: rateLimit,
  })
  .openapi("IntercomConfig");
export type IntercomConfig = z.output<typeof IntercomConfig>;

/** Intercom secrets: an access token (a private app's, or an OAuth token) with read and write contacts. */
export const IntercomCredentials = z
  .strictObject({
    access_token: secret().openapi({
      description: "The app's access token (Developer Hub → your app → Authentication), with Read and write users and companies.",
    }),
  })
  .openapi("IntercomCredentials");
export type IntercomCredentials = z.output<typeof IntercomCredentials>;
