import { z } from "@hono/zod-openapi";
import { and, eq, like } from "drizzle-orm";
import { ApiError, notFound, validationError } from "../../api/errors";
import { issueDetails, Name } from "../../api/openapi";
import { ALERT_CHANNEL_TYPES, type AlertChannelType, CHANNEL_CONFIGS, splitConfig, urlProblems } from "../../alerts/channels";
import type { Database } from "../../db/client";
import { alertChannels, syncs } from "../../db/schema";
import { encryptSecret } from "../../lib/secrets";

/** An alert channel as the API returns it: secret config fields masked, its last delivery. */
export const AlertChannelSchema = z
  .object({
    id: z.string().openapi({ example: "chn_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    name: z.string(),
    type: z.enum(ALERT_CHANNEL_TYPES),
    config: z
      .record(z.string(), z.unknown())
      .openapi({ description: "The type's settings; a Slack webhook URL and a PagerDuty routing key are masked." }),
    default: z.boolean().openapi({ description: "Alerted for every sync without its own `alerts.channel_ids`." }),
    last_sent_at: z.string().nullable().openapi({ description: "When the last alert (or test) reached the channel." }),
    last_error: z.string().nullable().openapi({ description: "Why the last alert could not be delivered; cleared by the next success." }),
    last_error_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("AlertChannel");

/** What create answers: a webhook channel's signing secret, this once. */
export const CreatedAlertChannelSchema = AlertChannelSchema.extend({
  signing_secret: z.string().optional().openapi({
    description: 'A webhook channel\'s secret for `X-Signature: sha256=<hex HMAC-SHA256 of "<X-Timestamp>.<body>">`. Shown only here.',
  }),
}).openapi("CreatedAlertChannel");

const IsDefault = z.boolean().optional().openapi({ description: "Alert every sync without its own `alerts.channel_ids` (default false)." });

const createBodyOf = <T extends AlertChannelType>(type: T) =>
  z.strictObject({ name: Name, type: z.literal(type), config: CHANNEL_CONFIGS[type], default: IsDefault });

/** POST body: `type` selects the config schema. */
export const CreateAlertChannelBody = z
  .discriminatedUnion("type", [createBodyOf("webhook"), createBodyOf("slack"), createBodyOf("email"), createBodyOf("pagerduty")])
  .openapi("CreateAlertChannel");

/** PUT body; `config` is checked against the stored type by the handler. */
export const UpdateAlertChannelBody = z
  .strictObject({
    name: Name.optional(),
    type: z.enum(ALERT_CHANNEL_TYPES).optional().openapi({ description: "Immutable; accepted only when unchanged." }),
    config: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "Replaces the whole config, secrets included; validated against the channel's type." }),
    default: IsDefault,
  })
  .openapi("UpdateAlertChannel");

export type AlertChannelRow = typeof alertChannels.$inferSelect;

export function serializeChannel(row: AlertChannelRow): z.infer<typeof AlertChannelSchema> {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    config: row.config,
    default: row.isDefault,
    last_sent_at: row.lastSentAt,
    last_error: row.lastError,
    last_error_at: row.lastErrorAt,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

export async function loadChannel(db: Database, workspaceId: string, id: string): Promise<AlertChannelRow> {
  const row = await db.query.alertChannels.findFirst({ where: and(eq(alertChannels.id, id), eq(alertChannels.workspaceId, workspaceId)) });
  if (!row) throw notFound("alert channel", id);
  return row;
}

/** A config validated for `type` (a 400 naming `config.<field>` otherwise), its URLs through the SSRF guard. */
export function checkConfig(
  env: Pick<Env, "ALLOW_PRIVATE_DESTINATIONS">,
  type: AlertChannelType,
  config: unknown,
): Record<string, unknown> {
  const parsed = CHANNEL_CONFIGS[type].safeParse(config);
  if (!parsed.success) throw validationError(issueDetails(parsed.error.issues, ["config"]));
  const value = parsed.data as Record<string, unknown>;
  const problems = urlProblems(type, value, env.ALLOW_PRIVATE_DESTINATIONS === "true");
  if (problems.length) throw validationError(problems);
  return value;
}

/** The stored columns of a config: shown part and sealed secrets (sealed with the channel id as additional data). */
export async function storedConfig(
  key: string,
  id: string,
  type: AlertChannelType,
  config: Record<string, unknown>,
  signingSecret?: string,
) {
  const { shown, secrets } = splitConfig(type, config);
  if (signingSecret) secrets.signing_secret = signingSecret;
  return {
    config: shown,
    secretsCiphertext: Object.keys(secrets).length ? await encryptSecret(key, JSON.stringify(secrets), id) : null,
  };
}

/** A 409 while a sync names the channel in its `alerts.channel_ids`. */
export async function assertUnused(db: Database, workspaceId: string, id: string): Promise<void> {
  const used = await db.query.syncs.findFirst({
    where: and(eq(syncs.workspaceId, workspaceId), like(syncs.alerts, `%"${id}"%`)),
    columns: { id: true },
  });
  if (used) {
    throw new ApiError("conflict", `alert channel ${id} is used by sync ${used.id}; remove it from that sync's alerts.channel_ids first`, {
      sync_id: used.id,
    });
  }
}
