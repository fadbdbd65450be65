import type { Destination } from "../destination";
import { vendorHost } from "../fields";
import { audienceSyncProblems } from "../identifiers";
import { META_API_BASE, metaAudiencesConnector } from "./connector";
import { META_RULES, MetaAudiencesConfig, MetaAudiencesCredentials } from "./schema";

/**
 * Meta Custom Audiences destination: people added to and (mirror) removed from a customer list
 * audience through `/{audience_id}/users`, identifiers hashed by Meta's rules, system user token.
 */
export const metaAudiences: Destination<"meta_audiences", MetaAudiencesConfig, MetaAudiencesCredentials> = {
  type: "meta_audiences",
  config: MetaAudiencesConfig,
  credentials: MetaAudiencesCredentials,
  modes: ["upsert", "mirror", "append"],
  credentialsRequired: true,
  // The token may only ever go to Meta itself outside local development.
  hosts: (config) => [vendorHost("config.api_base", config.api_base, { url: META_API_BASE })],
  validateSync: (config, sync) => audienceSyncProblems("Meta", META_RULES, config.key_identifier, sync),
  connector: metaAudiencesConnector,
};
