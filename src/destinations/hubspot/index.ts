import type { Destination } from "../destination";
import { HUBSPOT_API_BASE, hubspotConnector } from "./connector";
import { HubspotConfig, HubspotCredentials } from "./schema";

/** HubSpot destination: CRM v3 batch upserts by a unique property, private-app token. */
export const hubspot: Destination<"hubspot", HubspotConfig, HubspotCredentials> = {
  type: "hubspot",
  config: HubspotConfig,
  credentials: HubspotCredentials,
  credentialsRequired: true,
  hosts: (config) =>
    config.api_base === undefined
      ? [{ path: "config.api_base", url: HUBSPOT_API_BASE }]
      : [
          {
            path: "config.api_base",
            url: config.api_base,
            // The token may only ever go to HubSpot itself outside local development.
            refusal: "is for local development only (ALLOW_PRIVATE_DESTINATIONS); remove it to use https://api.hubapi.com",
          },
        ],
  connector: hubspotConnector,
};
