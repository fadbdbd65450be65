import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** The local PostgreSQL the tests use as a real warehouse (and as a postgres destination). */
const warehouseUrl = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
/** The local MariaDB of the MySQL source tests, as its admin (test/servers/mariadb.ts starts it and makes the database). */
const mysqlUrl = process.env.TEST_MYSQL_URL ?? "mysql://retl_mysql_admin:admin-pw@127.0.0.1:3306/retl_mysql_test";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            WEBHOOK_RECEIVER_URL: `http://127.0.0.1:${inject("webhookPort")}`,
            SALESFORCE_URL: `http://127.0.0.1:${inject("salesforcePort")}`,
            HUBSPOT_URL: `http://127.0.0.1:${inject("hubspotPort")}`,
            KLAVIYO_URL: `http://127.0.0.1:${inject("klaviyoPort")}`,
            INTERCOM_URL: `http://127.0.0.1:${inject("intercomPort")}`,
            BIGQUERY_URL: `http://127.0.0.1:${inject("bigqueryPort")}`,
            DATABRICKS_URL: `http://127.0.0.1:${inject("databricksPort")}`,
            ALERT_RECEIVER_URL: `http://127.0.0.1:${inject("alertReceiverPort")}`,
            SLACK_URL: `http://127.0.0.1:${inject("slackPort")}`,
            PAGERDUTY_EVENTS_URL: `http://127.0.0.1:${inject("pagerDutyPort")}/v2/enqueue`,
            ALERT_EMAIL_FROM: "alerts@retl.example.com",
            SNOWFLAKE_URL: `http://127.0.0.1:${inject("snowflakePort")}`,
            // A Neon-style WebSocket proxy to the local Postgres (test/servers/wsproxy.ts).
            WSPROXY_URL: `ws://127.0.0.1:${inject("wsProxyPort")}/v1`,
            BRAZE_URL: `http://127.0.0.1:${inject("brazePort")}`,
            CUSTOMERIO_URL: `http://127.0.0.1:${inject("customerioPort")}`,
            REST_API_URL: `http://127.0.0.1:${inject("restApiPort")}`,
            GOOGLE_ADS_URL: `http://127.0.0.1:${inject("googleAdsPort")}`,
            META_URL: `http://127.0.0.1:${inject("metaPort")}`,
            S3_URL: `http://127.0.0.1:${inject("s3Port")}`,
            TEST_MIGRATIONS: migrations,
            TEST_WAREHOUSE_URL: warehouseUrl,
            TEST_MYSQL_URL: mysqlUrl,
            ADMIN_TOKEN: "test_admin_token",
            // 32 zero-free test bytes, base64; production keys come from `wrangler secret put`.
            ENCRYPTION_KEY: "dGVzdC1rZXktMzItYnl0ZXMtbG9uZy4uLi4uLi4uLi4=",
            ALLOW_PRIVATE_DESTINATIONS: "true",
            // Queue retry delays are real seconds in miniflare: keep the backoff short (production: 2 s … 15 min).
            DELIVERY_RETRY_BASE_SECONDS: "1",
            DELIVERY_RETRY_MAX_SECONDS: "1",
            // A run's warehouse retries wait 0.1 s, 0.4 s, 1.6 s (production: 1 s, 4 s, 16 s).
            WAREHOUSE_RETRY_BASE_MS: "100",
            // Keyset extraction in pages of 1000 rows (production: 100,000), so tests cross page boundaries.
            EXTRACT_PAGE_ROWS: "1000",
          },
          // The emulated send_email binding refuses other recipients, as a binding with allowed
          // destination addresses does on Cloudflare (the alert tests check both sides).
          email: {
            send_email: [{ name: "ALERT_EMAIL", allowed_destination_addresses: ["oncall@retl.example.com", "data@retl.example.com"] }],
          },
        },
      })),
    ],
    test: {
      globalSetup: ["./test/setup/global.ts"],
      setupFiles: ["./test/setup/apply-migrations.ts"],
      include: ["test/**/*.test.ts"],
      // The console's browser tests run in Node with their own config (vitest.browser.config.ts).
      exclude: ["**/node_modules/**", "test/browser/**"],
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
