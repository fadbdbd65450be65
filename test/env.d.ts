import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      TEST_WAREHOUSE_URL: string;
      WEBHOOK_RECEIVER_URL: string;
      /** Fake Salesforce (test/servers/salesforce.ts); orgs under /t/{name}. */
      SALESFORCE_URL: string;
      /** Fake HubSpot (test/servers/hubspot.ts); portals under /t/{name}. */
      HUBSPOT_URL: string;
      /** Delivery sink (test/servers/delivery-sink.ts); destinations under /hook/{name}. */
      DELIVERY_SINK_URL: string;
    }
  }
}
