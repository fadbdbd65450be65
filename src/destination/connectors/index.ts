import type { DestinationType } from "../../db/schema";
import type { DestinationConfig, DestinationCredentials } from "../config";
import type { Connector } from "../connector";
import { hubspotConnector } from "./hubspot";
import { postgresConnector } from "./postgres";
import { salesforceConnector } from "./salesforce";
import { webhookConnector } from "./webhook";

/** Every destination type's connector, typed by its config and credentials. */
export const connectors: { [T in DestinationType]: Connector<DestinationConfig<T>, DestinationCredentials<T>> } = {
  webhook: webhookConnector,
  postgres: postgresConnector,
  salesforce: salesforceConnector,
  hubspot: hubspotConnector,
};

/**
 * The connector of a destination type, for callers that hold the config and credentials as
 * stored (parsed by `parseConfig`/`parseCredentials` in ../config, so defaults are applied).
 * Webhook credentials may be absent: pass `{}`.
 */
export function connectorFor(type: DestinationType): Connector {
  return connectors[type];
}

export { hubspotConnector } from "./hubspot";
export { postgresConnector } from "./postgres";
export { salesforceConnector } from "./salesforce";
export { webhookConnector } from "./webhook";
