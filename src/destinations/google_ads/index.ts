import type { Destination } from "../destination";
import { audienceSyncProblems } from "../identifiers";
import { GOOGLE_ADS_API_BASE, GOOGLE_TOKEN_URL, googleAdsConnector } from "./connector";
import { GOOGLE_RULES, GoogleAdsConfig, GoogleAdsCredentials } from "./schema";

const LOCAL_ONLY = "is for local development only (ALLOW_PRIVATE_DESTINATIONS); remove it to use Google's own endpoint";

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
    config.api_base === undefined
      ? { path: "config.api_base", url: GOOGLE_ADS_API_BASE }
      : { path: "config.api_base", url: config.api_base, refusal: LOCAL_ONLY },
    config.token_url === undefined
      ? { path: "config.token_url", url: GOOGLE_TOKEN_URL }
      : { path: "config.token_url", url: config.token_url, refusal: LOCAL_ONLY },
  ],
  validateSync: (config, sync) => audienceSyncProblems("Google Ads", GOOGLE_RULES, config.key_identifier, sync),
  connector: googleAdsConnector,
};
