import type { Destination } from "../destination";
import { SYNC_MODES } from "../../sync/mode";
import { BRAZE_RESERVED_FIELDS, brazeConnector } from "./connector";
import { BrazeConfig, BrazeCredentials } from "./schema";

/**
 * Braze destination: user profiles by `external_id` (the model's primary key) through
 * `/users/track`, deleted through `/users/delete` in mirror mode; REST API key.
 */
export const braze: Destination<"braze", BrazeConfig, BrazeCredentials> = {
  type: "braze",
  config: BrazeConfig,
  credentials: BrazeCredentials,
  // Every mode: `_update_existing_only` makes an update-only call, /users/delete a mirror's deletes.
  modes: SYNC_MODES,
  credentialsRequired: true,
  hosts: (config) => [{ path: "config.rest_endpoint", url: config.rest_endpoint }],
  validateSync: (_config, sync) =>
    sync.mappings.flatMap((m, i) =>
      BRAZE_RESERVED_FIELDS.includes(m.destination)
        ? [
            {
              path: `field_mappings.${i}.destination`,
              message: `"${m.destination}" is set by the connector: Braze profiles are keyed by external_id, which is the model's primary key "${sync.primaryKey}" (so mirror deletes can find them); map other fields`,
            },
          ]
        : [],
    ),
  connector: brazeConnector,
};
