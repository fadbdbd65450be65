import { z } from "@hono/zod-openapi";
import { isLocalUrl, rateLimit, secret } from "../fields";

/** A field or object name in a vendor API: letters, digits and underscores, starting with a letter. */
const apiName = (what: string, example: string) =>
  z
    .string()
    .max(255)
    .regex(/^[A-Za-z][A-Za-z0-9_]*$/, { message: `must be ${what} (letters, digits, underscores), e.g. "${example}"` });

// Only Salesforce's own domains may receive the OAuth token (My Domain, sandboxes, Government Cloud).
const SALESFORCE_HOST = /(^|\.)(salesforce\.com|force\.com|salesforce\.mil|cloudforce\.com)$/i;

function isSalesforceUrl(s: string): boolean {
  return URL.canParse(s) && new URL(s).protocol === "https:" && SALESFORCE_HOST.test(new URL(s).hostname);
}

/** Salesforce: rows are upserted into an sObject by an External ID field (sObject Collections, 200 per call). */
export const SalesforceConfig = z
  .strictObject({
    instance_url: z
      .string()
      .max(2048)
      // A private/loopback URL is a local stand-in (a fake org); the hosts() check refuses it unless ALLOW_PRIVATE_DESTINATIONS.
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
export type SalesforceConfig = z.output<typeof SalesforceConfig>;

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
export type SalesforceCredentials = z.output<typeof SalesforceCredentials>;
