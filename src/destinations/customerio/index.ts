import type { Destination } from "../destination";
import { vendorHost } from "../fields";
import { CUSTOMERIO_RESERVED_FIELDS, CUSTOMERIO_TRACK_URLS, customerioConnector } from "./connector";
import { CustomerioConfig, CustomerioCredentials } from "./schema";

/**
 * Customer.io destination: people identified by `id` (the model's primary key) through the Track
 * API's v2 batch endpoint, deleted in mirror mode; Site ID and Track API key.
 */
export const customerio: Destination<"customerio", CustomerioConfig, CustomerioCredentials> = {
  type: "customerio",
  config: CustomerioConfig,
  credentials: CustomerioCredentials,
  modes: ["upsert", "mirror", "append"],
  credentialsRequired: true,
  // The Track API key may only ever go to Customer.io itself outside local development.
  hosts: (config) => [
    vendorHost("config.api_base", config.api_base, {
      path: "config.region",
      url: CUSTOMERIO_TRACK_URLS[config.region],
      name: "the region's Track API",
    }),
  ],
  validateSync: (_config, sync) =>
    sync.mappings.flatMap((m, i) =>
      CUSTOMERIO_RESERVED_FIELDS.includes(m.destination)
        ? [
            {
              path: `field_mappings.${i}.destination`,
              message: `"${m.destination}" is set by the connector: Customer.io people are identified by id, which is the model's primary key "${sync.primaryKey}" (so mirror deletes can find them); map other attributes`,
            },
          ]
        : [],
    ),
  connector: customerioConnector,
};
