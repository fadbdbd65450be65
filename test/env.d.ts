import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      TEST_WAREHOUSE_URL: string;
      /** The local MariaDB as its admin (test/servers/mariadb.ts). */
      TEST_MYSQL_URL: string;
      /** Fake webhook receiver (test/servers/webhook-receiver.ts); destinations under /hook/{name}. */
      WEBHOOK_RECEIVER_URL: string;
      /** Fake Salesforce (test/servers/salesforce.ts); orgs under /t/{name}. */
      SALESFORCE_URL: string;
      /** Fake HubSpot (test/servers/hubspot.ts); portals under /t/{name}. */
      HUBSPOT_URL: string;
      /** Fake Klaviyo (test/servers/klaviyo.ts); accounts under /t/{name}. */
      KLAVIYO_URL: string;
      /** Fake Intercom (test/servers/intercom.ts); workspaces under /t/{name}. */
      INTERCOM_URL: string;
      /** Fake BigQuery (test/servers/bigquery.ts): API and token endpoint; projects under /bigquery/v2/projects/{name}. */
      BIGQUERY_URL: string;
      /** Fake Databricks workspace (test/servers/databricks.ts); workspaces under /t/{name}. */
      DATABRICKS_URL: string;
      /** Webhook alert receiver (test/servers/alert-receiver.ts); endpoints under /r/{name}. */
      ALERT_RECEIVER_URL: string;
      /** Fake Slack (test/servers/slack.ts); incoming webhooks under /services/{name}/…. */
      SLACK_URL: string;
      /** Fake Snowflake SQL API (test/servers/snowflake.ts); accounts under /t/{name}. */
      SNOWFLAKE_URL: string;
      WSPROXY_URL: string;
      /** Fake Braze REST API (test/servers/braze.ts); workspaces under /t/{name}. */
      BRAZE_URL: string;
      /** Fake Customer.io Track API (test/servers/customerio.ts); workspaces under /t/{name}. */
      CUSTOMERIO_URL: string;
      /** Plain JSON REST API for the http destination (test/servers/rest-api.ts); tenants under /t/{name}. */
      REST_API_URL: string;
      /** Fake Google Ads API and token endpoint (test/servers/google-ads.ts); accounts under /t/{name}. */
      GOOGLE_ADS_URL: string;
      /** Fake Graph API (test/servers/meta.ts); accounts under /t/{name}. */
      META_URL: string;
      /** Fake S3-compatible store checking SigV4 (test/servers/s3.ts); path-style buckets, control under /_control/. */
      S3_URL: string;
    }
  }
}
