import type { Destination } from "../destination";
import { webhookConnector } from "./connector";
import { WebhookConfig, WebhookCredentials } from "./schema";

/** Webhook destination: JSON batches POSTed to a URL, optionally signed. Credentials are optional. */
export const webhook: Destination<"webhook", WebhookConfig, WebhookCredentials> = {
  type: "webhook",
  config: WebhookConfig,
  credentials: WebhookCredentials,
  modes: ["upsert", "mirror", "append", "update"],
  credentialsRequired: false,
  hosts: (config) => [{ path: "config.url", url: config.url }],
  connector: webhookConnector,
};
