/**
 * The `alerts` queue's consumer: one message per alert and channel. A failure that may pass is
 * retried with backoff (honouring Retry-After); a refusal, or the last attempt, is recorded as the
 * channel's `last_error` and the message dropped.
 */
import { eq } from "drizzle-orm";
import { createDb, type Database } from "../db/client";
import { alertChannels } from "../db/schema";
import { backoffPolicy, retryDelaySeconds } from "../delivery/backoff";
import { log } from "../lib/log";
import { decryptSecret } from "../lib/secrets";
import type { ChannelSecrets } from "./channels";
import type { AlertPayload } from "./events";
import { type OpenedChannel, type SendResult, sendAlert } from "./send";

/** One alert for one channel. */
export interface AlertMessage {
  /** The alert's id, the same for each of its channels and every attempt (the webhook's Idempotency-Key). */
  alert_id: string;
  channel_id: string;
  workspace_id: string;
  payload: AlertPayload;
}

/** Attempts of one message, as `max_retries` of the alerts queue in wrangler.toml allows (5 retries). */
const MAX_ALERT_ATTEMPTS = 6;

type ChannelRow = typeof alertChannels.$inferSelect;

/** The channel with its secrets decrypted, ready for {@link sendAlert}. */
export async function openChannel(env: Env, row: ChannelRow): Promise<OpenedChannel> {
  const secrets: ChannelSecrets = row.secretsCiphertext
    ? (JSON.parse(await decryptSecret(env.ENCRYPTION_KEY, row.secretsCiphertext, row.id)) as ChannelSecrets)
    : {};
  return { id: row.id, name: row.name, type: row.type, config: { ...row.config, ...secrets }, secrets };
}

/** Records the outcome of a send on the channel: `last_sent_at`, or `last_error` (a success clears it). */
export async function recordOutcome(db: Database, channelId: string, result: SendResult, final = true): Promise<void> {
  const now = new Date().toISOString();
  const fields = result.ok
    ? { lastSentAt: now, lastError: null, lastErrorAt: null }
    : { lastError: final || !result.retry ? result.error : `${result.error} (retrying)`, lastErrorAt: now };
  await db.update(alertChannels).set(fields).where(eq(alertChannels.id, channelId));
}

export async function handleAlerts(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = createDb(env.DB);
  await Promise.all(
    batch.messages.map(async (msg) => {
      const m = msg.body as AlertMessage;
      try {
        const row = await db.query.alertChannels.findFirst({ where: eq(alertChannels.id, m.channel_id) });
        // Deleted since: nothing to send to.
        if (!row || row.workspaceId !== m.workspace_id) return msg.ack();
        const result = await sendAlert(env, await openChannel(env, row), m.payload, m.alert_id);
        const last = msg.attempts >= MAX_ALERT_ATTEMPTS;
        await recordOutcome(
          db,
          row.id,
          last && !result.ok ? { ...result, error: `gave up after ${msg.attempts} attempts: ${result.error}` } : result,
          last,
        );
        log("alert_sent", {
          channel_id: row.id,
          event: m.payload.event,
          ok: result.ok,
          attempts: msg.attempts,
          ...(result.ok ? {} : { error: result.error }),
        });
        if (result.ok || !result.retry || last) return msg.ack();
        msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, result.retryAfterSeconds, backoffPolicy(env)) });
      } catch (err) {
        log("alert_error", { channel_id: m.channel_id, error: String(err), attempts: msg.attempts }, "error");
        msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, undefined, backoffPolicy(env)) });
      }
    }),
  );
}
