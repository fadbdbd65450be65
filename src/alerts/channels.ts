/**
 * Alert channel types: each type's config as the API takes it, which of its fields are secrets
 * (sealed at rest, masked in answers), and the URLs the SSRF guard must pass.
 */
import { z } from "@hono/zod-openapi";
import { checkOutboundUrl } from "../lib/ssrf";

export const ALERT_CHANNEL_TYPES = ["webhook", "slack", "email", "pagerduty"] as const;
export type AlertChannelType = (typeof ALERT_CHANNEL_TYPES)[number];

const Url = z.string().trim().min(1).max(2048).url();
/** A masked value sent back as if it were the secret (`****abcd`). */
const notMasked = (v: string) => !v.startsWith("****");
const MASKED = { message: "is a masked value; send the real one" };

const WebhookChannelConfig = z
  .strictObject({ url: Url.openapi({ example: "https://ops.example.com/alerts" }) })
  .openapi("WebhookChannelConfig");
const SlackChannelConfig = z
  .strictObject({
    webhook_url: Url.refine(notMasked, MASKED).openapi({
      description: "The Slack app's incoming webhook URL (a secret: masked in answers).",
      example: "https://hooks.slack.com/services/T000/B000/XXXX",
    }),
  })
  .openapi("SlackChannelConfig");
const EmailChannelConfig = z
  .strictObject({
    to: z
      .array(z.string().trim().email().max(254))
      .min(1)
      .max(20)
      .openapi({ example: ["oncall@example.com"] }),
  })
  .openapi("EmailChannelConfig");
const PagerDutyChannelConfig = z
  .strictObject({
    routing_key: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9]{32}$/, "must be the 32-character integration key of an Events API v2 integration")
      .refine(notMasked, MASKED)
      .openapi({ description: "Events API v2 integration (routing) key (a secret: masked in answers)." }),
  })
  .openapi("PagerDutyChannelConfig");

/** Each type's config schema. */
export const CHANNEL_CONFIGS = {
  webhook: WebhookChannelConfig,
  slack: SlackChannelConfig,
  email: EmailChannelConfig,
  pagerduty: PagerDutyChannelConfig,
} as const;

/** The config fields that are secrets, by type. */
const SECRET_FIELDS: Record<AlertChannelType, readonly string[]> = {
  webhook: [],
  slack: ["webhook_url"],
  email: [],
  pagerduty: ["routing_key"],
};

/** Everything a channel's sender needs: its full config and its secrets (decrypted). */
export type ChannelSecrets = Record<string, string>;

/** Splits a validated config into what is shown (secrets masked) and what is sealed. */
export function splitConfig(
  type: AlertChannelType,
  config: Record<string, unknown>,
): { shown: Record<string, unknown>; secrets: ChannelSecrets } {
  const shown: Record<string, unknown> = { ...config };
  const secrets: ChannelSecrets = {};
  for (const field of SECRET_FIELDS[type]) {
    const value = String(config[field] ?? "");
    secrets[field] = value;
    shown[field] = value.length > 12 ? `****${value.slice(-4)}` : "****";
  }
  return { shown, secrets };
}

/** The URL fields of a config, by their API path, for the SSRF guard. */
function urlsOf(type: AlertChannelType, config: Record<string, unknown>): [string, string][] {
  if (type === "webhook") return [["config.url", String(config.url)]];
  if (type === "slack") return [["config.webhook_url", String(config.webhook_url)]];
  return [];
}

/** The SSRF guard's refusals of a config's URLs, as error details. */
export function urlProblems(
  type: AlertChannelType,
  config: Record<string, unknown>,
  allowPrivate: boolean,
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  for (const [path, url] of urlsOf(type, config)) {
    const verdict = checkOutboundUrl(url, { allowPrivate });
    if (!verdict.ok) problems.push({ path, message: `refused: ${verdict.reason}` });
  }
  return problems;
}
