import type { Destination } from "../destination";
import { vendorHost } from "../fields";
import { intercomConnector } from "./connector";
import { INTERCOM_REGIONS, IntercomConfig, IntercomCredentials } from "./schema";

/**
 * Intercom destination: contacts created or updated by `external_id` (which a sync must map),
 * archived when their row leaves the model in mirror mode.
 */
export const intercom: Destination<"intercom", IntercomConfig, IntercomCredentials> = {
  type: "intercom",
  config: IntercomConfig,
  credentials: IntercomCredentials,
  modes: ["upsert", "mirror", "append", "update"],
  credentialsRequired: true,
  // The token may only ever go to Intercom itself outside local development.
  hosts: (config) => [
    vendorHost("config.api_base", config.api_base, {
      path: "config.region",
      url: INTERCOM_REGIONS[config.region],
      name: "the region's Intercom host",
    }),
  ],
  validateSync: (_config, sync) => {
    const index = sync.mappings.findIndex((m) => m.destination === "external_id");
    const mapping = sync.mappings[index];
    if (!mapping) {
      return [
        {
          path: "field_mappings",
          message:
            'external_id must be mapped: Intercom contacts are matched by it, so map the model column holding each row\'s id in your product to "external_id"',
        },
      ];
    }
    // A row gone from the model leaves only its key in the snapshot: archiving can look contacts up only by it.
    if (sync.mode === "mirror" && mapping.source !== sync.primaryKey) {
      return [
        {
          path: `field_mappings.${index}.source`,
          message: `mirror mode archives Intercom contacts by external_id, but a row gone from the model leaves only its primary key "${sync.primaryKey}": map "${sync.primaryKey}" to "external_id", or use upsert mode`,
        },
      ];
    }
    return [];
  },
  connector: intercomConnector,
};
