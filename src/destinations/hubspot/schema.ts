import { z } from "@hono/zod-openapi";
import { localOverride, rateLimit, secret } from "../fields";

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
    api_base: localOverride("https://api.hubapi.com (e.g. a fake HubSpot)"),
    rate_limit: rateLimit,
  })
  .openapi("HubspotConfig");
export type HubspotConfig = z.output<typeof HubspotConfig>;

/** HubSpot secrets: a private app token with write scopes on the object. */
export const HubspotCredentials = z
  .strictObject({ access_token: secret().openapi({ description: "A private app access token (pat-…)." }) })
  .openapi("HubspotCredentials");
export type HubspotCredentials = z.output<typeof HubspotCredentials>;
