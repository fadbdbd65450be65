import type { TestProject } from "vitest/node";
import { startFakeBigquery } from "../servers/bigquery";
import { startFakeClickhouse } from "../servers/clickhouse-current";
import { startFakeDatabricks } from "../servers/databricks";
import { startFakeBraze } from "../servers/braze";
import { startFakeCustomerio } from "../servers/customerio";
import { startFakeHubspot } from "../servers/hubspot";
import { startFakeIntercom } from "../servers/intercom";
import { startFakeKlaviyo } from "../servers/klaviyo";
import { startFakeGoogleAds } from "../servers/google-ads";
import { startFakeMeta } from "../servers/meta";
import { startFakeS3 } from "../servers/s3";
import { startFakeSalesforce } from "../servers/salesforce";
import { startFakeSnowflake } from "../servers/snowflake";
import { startWebhookReceiver } from "../servers/webhook-receiver";
import { startAlertReceiver } from "../servers/alert-receiver";
import { startFakePagerDuty } from "../servers/pagerduty";
import { startFakeSlack } from "../servers/slack";
import { startMariadb } from "../servers/mariadb";
import { startWsProxy } from "../servers/wsproxy";
import { startFakeRestApi } from "../servers/rest-api";

declare module "vitest" {
  export interface ProvidedContext {
    webhookPort: number;
    salesforcePort: number;
    hubspotPort: number;
    klaviyoPort: number;
    intercomPort: number;
    clickhouseCurrentPort: number;
    bigqueryPort: number;
    databricksPort: number;
    alertReceiverPort: number;
    slackPort: number;
    pagerDutyPort: number;
    mysqlUp: boolean;
    snowflakePort: number;
    wsProxyPort: number;
    brazePort: number;
    customerioPort: number;
    restApiPort: number;
    googleAdsPort: number;
    metaPort: number;
    s3Port: number;
  }
}

/** Real HTTP servers on 127.0.0.1 for the tests (run in Node, outside workerd). */
export default async function setup(project: TestProject) {
  const receiver = await startWebhookReceiver();
  project.provide("webhookPort", receiver.port);
  const salesforce = await startFakeSalesforce();
  project.provide("salesforcePort", salesforce.port);
  const hubspot = await startFakeHubspot();
  project.provide("hubspotPort", hubspot.port);
  const klaviyo = await startFakeKlaviyo();
  project.provide("klaviyoPort", klaviyo.port);
  const intercom = await startFakeIntercom();
  project.provide("intercomPort", intercom.port);
  const clickhouse = await startFakeClickhouse();
  project.provide("clickhouseCurrentPort", clickhouse.port);
  const bigquery = await startFakeBigquery();
  project.provide("bigqueryPort", bigquery.port);
  const databricks = await startFakeDatabricks();
  project.provide("databricksPort", databricks.port);
  const alertReceiver = await startAlertReceiver();
  project.provide("alertReceiverPort", alertReceiver.port);
  const slack = await startFakeSlack();
  project.provide("slackPort", slack.port);
  const pagerDuty = await startFakePagerDuty();
  project.provide("pagerDutyPort", pagerDuty.port);
  const snowflake = await startFakeSnowflake();
  project.provide("snowflakePort", snowflake.port);
  const wsProxy = await startWsProxy();
  project.provide("wsProxyPort", wsProxy.port);
  const braze = await startFakeBraze();
  project.provide("brazePort", braze.port);
  const customerio = await startFakeCustomerio();
  project.provide("customerioPort", customerio.port);
  const restApi = await startFakeRestApi();
  project.provide("restApiPort", restApi.port);
  const googleAds = await startFakeGoogleAds();
  project.provide("googleAdsPort", googleAds.port);
  const meta = await startFakeMeta();
  project.provide("metaPort", meta.port);
  const s3 = await startFakeS3();
  project.provide("s3Port", s3.port);
  const servers = [
    wsProxy.server,
    receiver.server,
    salesforce.server,
    hubspot.server,
    klaviyo.server,
    intercom.server,
    clickhouse.server,
    bigquery.server,
    databricks.server,
    alertReceiver.server,
    slack.server,
    pagerDuty.server,
    snowflake.server,
    braze.server,
    customerio.server,
    restApi.server,
    googleAds.server,
    meta.server,
    s3.server,
  ];
  project.provide("mysqlUp", await startMariadb());
  return () => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
}
