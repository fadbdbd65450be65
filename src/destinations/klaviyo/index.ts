import type { Destination } from "../destination";
import { vendorHost } from "../fields";
import { KLAVIYO_API_BASE, klaviyoConnector } from "./connector";
import { KlaviyoConfig, KlaviyoCredentials } from "./schema";

/**
 * Klaviyo destination: profiles upserted by bulk import jobs, matched by `identifier` (which a sync
 * must map), optionally joined to a list; mirror mode removes rows gone from the model from that list.
 */
export const klaviyo: Destination<"klaviyo", KlaviyoConfig, KlaviyoCredentials> = {
  type: "klaviyo",
  config: KlaviyoConfig,
  credentials: KlaviyoCredentials,
  modes: ["upsert", "mirror", "append"],
  credentialsRequired: true,
  // The API key may only ever go to Klaviyo itself outside local development.
  hosts: (config) => [vendorHost("config.api_base", config.api_base, { url: KLAVIYO_API_BASE })],
  validateSync: (config, sync) => {
    const { identifier } = config;
    const index = sync.mappings.findIndex((m) => m.destination === identifier);
    const mapping = sync.mappings[index];
    if (!mapping) {
      return [
        {
          path: "field_mappings",
          message: `identifier "${identifier}" must be mapped: Klaviyo matches profiles by it, so map the model column holding each row's ${identifier} to "${identifier}"`,
        },
      ];
    }
    if (sync.mode !== "mirror") return [];
    // Mirror has nothing to delete without a list: Klaviyo profiles are removed from the list, not erased.
    if (!config.list_id) {
      return [
        {
          path: "mode",
          message:
            "mirror mode removes profiles that left the model from the destination's list, and this Klaviyo destination has no list_id: set config.list_id on the destination, or use upsert mode",
        },
      ];
    }
    // A row gone from the model leaves only its key in the snapshot: deletes can look profiles up only by it.
    if (mapping.source !== sync.primaryKey) {
      return [
        {
          path: `field_mappings.${index}.source`,
          message: `mirror mode finds Klaviyo profiles to remove by identifier "${identifier}", but a row gone from the model leaves only its primary key "${sync.primaryKey}": map "${sync.primaryKey}" to "${identifier}", or use upsert mode`,
        },
      ];
    }
    return [];
  },
  connector: klaviyoConnector,
};
