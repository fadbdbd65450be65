import type { Destination } from "../destination";
import { vendorHost } from "../fields";
import { HUBSPOT_API_BASE, hubspotConnector } from "./connector";
import { hubspotFields } from "./fields";
import { HubspotConfig, HubspotCredentials } from "./schema";

/**
 * HubSpot destination: CRM v3 batch upserts by a unique property (`id_property`, which a sync must
 * map: its value is what HubSpot matches records by), private-app token.
 */
export const hubspot: Destination<"hubspot", HubspotConfig, HubspotCredentials> = {
  type: "hubspot",
  config: HubspotConfig,
  credentials: HubspotCredentials,
  modes: ["upsert", "mirror", "append", "update"],
  credentialsRequired: true,
  // The token may only ever go to HubSpot itself outside local development.
  hosts: (config) => [vendorHost("config.api_base", config.api_base, { url: HUBSPOT_API_BASE })],
  validateSync: (config, sync) => {
    const { id_property: idProperty } = config;
    const index = sync.mappings.findIndex((m) => m.destination === idProperty);
    const mapping = sync.mappings[index];
    if (!mapping) {
      return [
        {
          path: "field_mappings",
          message: `id_property "${idProperty}" must be mapped: HubSpot matches records by it, so map the model column holding each row's ${idProperty} to "${idProperty}"`,
        },
      ];
    }
    // A row gone from the model leaves only its key in the snapshot: deletes can look records up only by it.
    if (sync.mode === "mirror" && mapping.source !== sync.primaryKey) {
      return [
        {
          path: `field_mappings.${index}.source`,
          message: `mirror mode deletes HubSpot records by id_property "${idProperty}", but a row gone from the model leaves only its primary key "${sync.primaryKey}": map "${sync.primaryKey}" to "${idProperty}", or use upsert mode`,
        },
      ];
    }
    return [];
  },
  identityFields: (config) => [config.id_property],
  // fields.ts reads the same API through the connector's helpers: joined here, so connector.ts need not import it.
  connector: { ...hubspotConnector, fields: hubspotFields },
};
