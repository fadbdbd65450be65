import { z } from "@hono/zod-openapi";
import { localOverride, rateLimit, secret } from "../fields";

/** The profile attributes Klaviyo matches profiles by (at least one must be present on each profile). */
const KLAVIYO_IDENTIFIERS = ["email", "external_id", "phone_number"] as const;

/** Klaviyo: rows are upserted as profiles through bulk import jobs (10,000 profiles, 5 MB per job), optionally into a list. */
export const KlaviyoConfig = z
  .strictObject({
    identifier: z.enum(KLAVIYO_IDENTIFIERS).default("email").openapi({
      description:
        "The profile attribute the model's rows are matched by: email, external_id or phone_number. A sync must map it; in mirror mode from the model's primary key.",
    }),
    list_id: z
      .string()
      .regex(/^[A-Za-z0-9]{1,64}$/, { message: 'must be a Klaviyo list id, e.g. "Y6nRLr"' })
      .optional()
      .openapi({
        example: "Y6nRLr",
        description: "A list the imported profiles join. Mirror mode needs it: rows gone from the model are removed from this list.",
      }),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(1000)
      .openapi({ description: "Profiles per bulk import job, 1-10,000 (jobs are also kept under Klaviyo's 5 MB)." }),
    api_base: localOverride("https://a.klaviyo.com (e.g. a fake Klaviyo)"),
    rate_limit: rateLimit,
  })
  .openapi("KlaviyoConfig");
export type KlaviyoConfig = z.output<typeof KlaviyoConfig>;

/** Klaviyo secrets: a private API key with the profiles and lists scopes. */
export const KlaviyoCredentials = z
  .strictObject({
    api_key: secret().openapi({
      description: "A private API key (pk_…) with profiles:read, profiles:write, lists:read and lists:write.",
    }),
  })
  .openapi("KlaviyoCredentials");
export type KlaviyoCredentials = z.output<typeof KlaviyoCredentials>;
