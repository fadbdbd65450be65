import type { Destination } from "../destination";
import { salesforceConnector } from "./connector";
import { salesforceFields } from "./fields";
import { SalesforceConfig, SalesforceCredentials } from "./schema";

/** Salesforce destination: sObject Collections upserts by External ID, OAuth token or refresh token. */
export const salesforce: Destination<"salesforce", SalesforceConfig, SalesforceCredentials> = {
  type: "salesforce",
  config: SalesforceConfig,
  credentials: SalesforceCredentials,
  modes: ["upsert", "mirror", "append", "update"],
  credentialsRequired: true,
  // API calls and the OAuth token refresh both go to the instance.
  hosts: (config) => [{ path: "config.instance_url", url: config.instance_url }],
  // The connector sets it from the key too; a mapped value is what the record is matched by.
  identityFields: (config) => [config.external_id_field],
  // fields.ts reads the same API through the connector's helpers: joined here, so connector.ts need not import it.
  connector: { ...salesforceConnector, fields: salesforceFields },
};
