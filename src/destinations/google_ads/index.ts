import type { Destination } from "../destination";
import { vendorHost } from "../fields";
import { audienceSyncProblems } from "../identifiers";
import { GOOGLE_ADS_API_BASE, GOOGLE_TOKEN_URL, googleAdsConnector } from "./connector";
import { GOOGLE_RULES, GoogleAdsConfig, GoogleAdsCredentials } from "./schema";

/** Where the refusal of a local-only URL sends users back to. */
const GOOGLE = "Google's own endpoint";

/**
 * Google Ads Customer Match destination: people added to and (mirror) removed from a Customer
 * Match user list through OfflineUserDataJobs, identifiers hashed by Google's rules, OAuth2
 * refresh token plus developer token.
 */
export const googleAds: Destination<"google_ads", GoogleAdsConfig, GoogleAdsCredentials> = {
  type: "google_ads",
  config: GoogleAdsConfig,
  credentials: GoogleAdsCredentials,
  modes: ["upsert", "mirror", "append"],
  credentialsRequired: true,
  // The OAuth tokens may only ever go to Google itself outside local development.
  hosts: (config) => [
    vendorHost("config.api_base", config.api_base, { url: GOOGLE_ADS_API_BASE, name: GOOGLE }),
    vendorHost("config.token_url", config.token_url, { url: GOOGLE_TOKEN_URL, name: GOOGLE }),
  ],
  validateSync: (config, sync) => audienceSyncProblems("Google Ads", GOOGLE_RULES, config.key_identifier, sync),
  connector: googleAdsConnector,
};
