import { z } from "@hono/zod-openapi";
import { isLocalUrl, rateLimit, secret } from "../fields";

// Braze's REST instances (https://www.braze.com/docs/api/basics/#endpoints): rest.iad-01.braze.com,
// rest.fra-01.braze.eu, rest.au-01.braze.com… Only they may receive the REST API key.
const BRAZE_HOST = /(^|\.)braze\.(com|eu)$/i;

function isBrazeUrl(s: string): boolean {
  return URL.canParse(s) && new URL(s).protocol === "https:" && BRAZE_HOST.test(new URL(s).hostname);
}

/** Braze: rows become user profiles keyed by `external_id` (`/users/track`, 75 attribute objects a call). */
export const BrazeConfig = z
  .strictObject({
    rest_endpoint: z
      .string()
      .max(2048)
      // A private/loopback URL is a local stand-in (a fake Braze); the hosts() check refuses it unless ALLOW_PRIVATE_DESTINATIONS.
      .refine((s) => isBrazeUrl(s) || isLocalUrl(s), {
        message: "must be your workspace's https:// Braze REST endpoint, e.g. https://rest.iad-01.braze.com",
      })
      .openapi({
        example: "https://rest.iad-01.braze.com",
        description:
          "The REST endpoint of your Braze instance (Settings > APIs and Identifiers), e.g. https://rest.fra-01.braze.eu. In local development, also a private/loopback http(s) URL.",
      }),
    batch_size: z.number().int().min(1).max(75).default(75).openapi({ description: "Users per /users/track call, 1-75." }),
    rate_limit: rateLimit,
  })
  .openapi("BrazeConfig");
export type BrazeConfig = z.output<typeof BrazeConfig>;

/** Braze secrets: a REST API key with `users.track` (and `users.delete` for mirror syncs). */
export const BrazeCredentials = z
  .strictObject({
    api_key: secret().openapi({
      description: "A REST API key with the users.track permission, and users.delete for mirror syncs.",
    }),
  })
  .openapi("BrazeCredentials");
export type BrazeCredentials = z.output<typeof BrazeCredentials>;
