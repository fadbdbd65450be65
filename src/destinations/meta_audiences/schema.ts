import { z } from "@hono/zod-openapi";
import { localOverride, rateLimit, secret } from "../fields";
import {
  countryCode,
  email,
  gender,
  type IdentifierKind,
  lettersOnly,
  nameNoSpaces,
  phoneDigitsOnly,
  plain,
  type VendorRules,
  zipMeta,
} from "../identifiers";

/**
 * Meta's identifier keys and how each is normalised before hashing, as "Custom Audiences from CRM
 * data" and the customer information parameters document them
 * (https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences,
 * https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters):
 * email trimmed and lower-cased; phone digits only with country code, no leading zeros; names
 * lower-cased without punctuation (UTF-8 letters kept); city and state lower-case letters; zip
 * lower-case without spaces (US: 5 digits); country lower-case ISO 3166-1 alpha-2; gender m/f;
 * all hashed with SHA-256 except the mobile advertiser id (MADID, lower-cased) and EXTERN_ID.
 */
export const META_RULES: VendorRules = {
  email: { normalize: email, hashed: true, label: "Email (EMAIL)" },
  phone: { normalize: phoneDigitsOnly, hashed: true, label: "Phone with country code (PHONE)" },
  first_name: { normalize: nameNoSpaces, hashed: true, label: "First name (FN)" },
  last_name: { normalize: nameNoSpaces, hashed: true, label: "Last name (LN)" },
  city: { normalize: lettersOnly, hashed: true, label: "City (CT)" },
  state: { normalize: lettersOnly, hashed: true, label: "State, 2-letter code (ST)" },
  zip: { normalize: zipMeta, hashed: true, label: "Zip or postal code (ZIP)" },
  country: { normalize: countryCode(false), hashed: true, label: "Country, ISO 3166-1 alpha-2 (COUNTRY)" },
  gender: { normalize: gender, hashed: true, label: "Gender, m or f (GEN)" },
  mobile_advertiser_id: { normalize: plain(true), hashed: false, label: "Mobile advertiser id, IDFA/AAID (MADID)" },
  external_id: { normalize: plain(false), hashed: false, label: "Your own user id (EXTERN_ID)" },
};

/** Meta's schema key of each identifier kind, in the order columns are sent. */
export const META_SCHEMA_KEYS: Partial<Record<IdentifierKind, string>> = {
  email: "EMAIL",
  phone: "PHONE",
  first_name: "FN",
  last_name: "LN",
  city: "CT",
  state: "ST",
  zip: "ZIP",
  country: "COUNTRY",
  gender: "GEN",
  mobile_advertiser_id: "MADID",
  external_id: "EXTERN_ID",
};

const META_KINDS = Object.keys(META_RULES) as [IdentifierKind, ...IdentifierKind[]];

/** Meta Custom Audiences: members added with POST and removed with DELETE `/{audience_id}/users`. */
export const MetaAudiencesConfig = z
  .strictObject({
    audience_id: z
      .string()
      .regex(/^\d{1,30}$/, { message: "must be the numeric id of a customer list Custom Audience" })
      .openapi({
        description: "The Custom Audience's id (Audiences in Ads Manager, or GET /act_{ad_account_id}/customaudiences).",
        example: "23851234567890123",
      }),
    key_identifier: z.enum(META_KINDS).default("email").openapi({
      description:
        "The identifier the model's primary key holds. Mirror mode removes people who left the model by it, so a mirror sync must map the primary key to this field.",
    }),
    api_version: z
      .string()
      .regex(/^v\d{2}\.0$/, { message: 'must look like "v25.0"' })
      .default("v25.0")
      .openapi({ description: "Graph API version." }),
    batch_size: z.number().int().min(1).max(100_000).default(10_000).openapi({
      description:
        "People per batch, 1-100,000; a batch over 10,000 (Meta's limit per request) goes as one upload session of several requests.",
    }),
    api_base: localOverride("https://graph.facebook.com (e.g. a fake Graph API)"),
    rate_limit: rateLimit,
  })
  .openapi("MetaAudiencesConfig");
export type MetaAudiencesConfig = z.output<typeof MetaAudiencesConfig>;

/** Meta secrets: a system user access token with ads_management on the audience's ad account. */
export const MetaAudiencesCredentials = z
  .strictObject({
    access_token: secret().openapi({
      description:
        "A system user access token (Business Settings → System users) with the ads_management permission on the ad account owning the audience.",
    }),
  })
  .openapi("MetaAudiencesCredentials");
export type MetaAudiencesCredentials = z.output<typeof MetaAudiencesCredentials>;
