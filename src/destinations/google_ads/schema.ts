import { z } from "@hono/zod-openapi";
import { localOverride, rateLimit, secret } from "../fields";
import {
  countryCode,
  emailGoogle,
  type IdentifierKind,
  nameCollapsedSpaces,
  phoneE164,
  plain,
  type VendorRules,
  zipPlain,
} from "../identifiers";

/**
 * Google's identifier kinds for Customer Match and how each is normalised, as the Google Ads API
 * documents them (UserIdentifier: https://developers.google.com/google-ads/api/reference/rpc/latest/UserIdentifier,
 * OfflineUserAddressInfo: https://developers.google.com/google-ads/api/reference/rpc/latest/OfflineUserAddressInfo,
 * normalisation: https://developers.google.com/google-ads/api/docs/remarketing/audience-segments/customer-match/get-started):
 * email trimmed and lower-cased (gmail.com/googlemail.com without dots or "+tag" before the @, as
 * https://developers.google.com/data-manager/api/get-started/formatting says), phone in E.164 (with "+"), first and last names lower-cased
 * without punctuation and extra spaces, all SHA-256 hashed; country code (ISO 3166-1 alpha-2) and
 * postal code, mobile id and your user id (third_party_user_id) in clear. An address needs first
 * name, last name, country and zip together.
 */
export const GOOGLE_RULES: VendorRules = {
  email: { normalize: emailGoogle, hashed: true, label: "Email (hashed_email)" },
  phone: { normalize: phoneE164, hashed: true, label: "Phone, E.164 (hashed_phone_number)" },
  first_name: { normalize: nameCollapsedSpaces, hashed: true, label: "First name (address_info.hashed_first_name)" },
  last_name: { normalize: nameCollapsedSpaces, hashed: true, label: "Last name (address_info.hashed_last_name)" },
  country: { normalize: countryCode(true), hashed: false, label: "Country, ISO 3166-1 alpha-2 (address_info.country_code)" },
  zip: { normalize: zipPlain, hashed: false, label: "Postal code (address_info.postal_code)" },
  mobile_advertiser_id: { normalize: plain(false), hashed: false, label: "Mobile advertising id, IDFA/AAID (mobile_id)" },
  external_id: { normalize: plain(false), hashed: false, label: "Your own user id, for CRM_ID lists (third_party_user_id)" },
};

// Kinds that match a person alone (an address needs four fields): what a removed row's key can be.
const GOOGLE_KEY_KINDS = ["email", "phone", "mobile_advertiser_id", "external_id"] as const satisfies readonly IdentifierKind[];
const customerId = (what: string) =>
  z
    .string()
    .transform((s) => s.replaceAll("-", ""))
    .pipe(z.string().regex(/^\d{10}$/, { message: `must be a ${what} customer id, 10 digits (dashes allowed)` }));
const CONSENT = z.enum(["GRANTED", "DENIED"]);

/** Google Ads Customer Match: members added to and removed from a user list by OfflineUserDataJobs. */
export const GoogleAdsConfig = z
  .strictObject({
    customer_id: customerId("Google Ads").openapi({ description: "The Google Ads account owning the user list.", example: "123-456-7890" }),
    user_list_id: z
      .string()
      .regex(/^\d{1,20}$/, { message: "must be the numeric id of a Customer Match user list" })
      .openapi({ description: "The Customer Match user list's id (Audience manager → Your data segments).", example: "6543210987" }),
    login_customer_id: customerId("manager account").optional().openapi({
      description:
        "The manager account you log in through, when the token reaches customer_id through a manager account (login-customer-id header).",
    }),
    key_identifier: z.enum(GOOGLE_KEY_KINDS).default("email").openapi({
      description:
        "The identifier the model's primary key holds. Mirror mode removes people who left the model by it, so a mirror sync must map the primary key to this field.",
    }),
    consent: z
      .strictObject({ ad_user_data: CONSENT.optional(), ad_personalization: CONSENT.optional() })
      .optional()
      .openapi({ description: "EU user consent sent with each job (customer_match_user_list_metadata.consent); required for EEA users." }),
    api_version: z
      .string()
      .regex(/^v\d{2}$/, { message: 'must look like "v24"' })
      .default("v24")
      .openapi({ description: "Google Ads API version." }),
    batch_size: z.number().int().min(1).max(20_000).default(10_000).openapi({
      description:
        "People per job, 1-20,000 (Google recommends 10,000 identifiers per request and allows 100,000: at most 5 per person here).",
    }),
    api_base: localOverride("https://googleads.googleapis.com (a fake Google Ads API)"),
    token_url: localOverride("https://oauth2.googleapis.com/token (a fake token endpoint)", "URL"),
    rate_limit: rateLimit,
  })
  .openapi("GoogleAdsConfig");
export type GoogleAdsConfig = z.output<typeof GoogleAdsConfig>;

/** Google secrets: an OAuth2 client and refresh token with the adwords scope, plus the developer token. */
export const GoogleAdsCredentials = z
  .strictObject({
    client_id: secret().openapi({ description: "OAuth2 client id (Google Cloud console → Credentials)." }),
    client_secret: secret().openapi({ description: "OAuth2 client secret." }),
    refresh_token: secret().openapi({
      description: "Refresh token of a user with access to the account, for the https://www.googleapis.com/auth/adwords scope.",
    }),
    developer_token: secret().openapi({
      description: "Google Ads API developer token (API Center of the manager account), Basic access or better.",
    }),
  })
  .openapi("GoogleAdsCredentials");
export type GoogleAdsCredentials = z.output<typeof GoogleAdsCredentials>;
