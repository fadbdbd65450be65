/**
 * Sends one alert to one channel: a signed webhook, a Slack incoming webhook (Block Kit), an email
 * through the `send_email` binding, or a PagerDuty Events API v2 event. Every URL passes the SSRF
 * guard (httpRequest); nothing here throws.
 */
import { hmacSha256Hex } from "../lib/crypto";
import { httpRequest, isTransientStatus, messageOf, retryAfterSeconds, truncate } from "../lib/http";
import type { AlertChannelType, ChannelSecrets } from "./channels";
import type { AlertEvent, AlertPayload } from "./events";

/** A sent alert, or why not: `retry` when a later attempt may succeed. */
export type SendResult = { ok: true } | { ok: false; retry: boolean; error: string; retryAfterSeconds?: number };

/** A channel ready to send: its type, full config (secrets in place) and, for a webhook, its signing secret. */
export interface OpenedChannel {
  id: string;
  name: string;
  type: AlertChannelType;
  config: Record<string, unknown>;
  secrets: ChannelSecrets;
}

const TIMEOUT_MS = 10_000;
const PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";

const TITLES: Record<AlertEvent, string> = {
  run_failed: "Run failed",
  sync_error: "Sync in error",
  rows_failed: "Rows failed",
  row_count_change: "Model row count changed",
  late: "Scheduled run late",
  slow: "Run slow",
  recovered: "Recovered",
  test: "Test alert",
};

/** The one-line title of an alert (Slack header, email subject, PagerDuty summary). */
function alertTitle(p: AlertPayload): string {
  return `${TITLES[p.event]}${p.sync ? `: ${p.sync.name}` : ""}`;
}

export async function sendAlert(env: Env, channel: OpenedChannel, payload: AlertPayload, alertId: string): Promise<SendResult> {
  const http = { fetch, allowPrivate: env.ALLOW_PRIVATE_DESTINATIONS === "true" };
  switch (channel.type) {
    case "webhook": {
      const body = JSON.stringify(payload);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = await hmacSha256Hex(channel.secrets.signing_secret ?? "", `${timestamp}.${body}`);
      return post(http, String(channel.config.url), body, {
        "X-Timestamp": timestamp,
        "X-Signature": `sha256=${signature}`,
        "Idempotency-Key": alertId,
      });
    }
    case "slack":
      return post(http, channel.secrets.webhook_url ?? "", JSON.stringify(slackMessage(payload)));
    case "pagerduty":
      return pagerDuty(http, env.PAGERDUTY_EVENTS_URL || PAGERDUTY_EVENTS_URL, channel, payload);
    case "email":
      return email(env, channel, payload);
  }
}

type Http = { fetch: typeof fetch; allowPrivate: boolean };

/** POSTs JSON; 2xx is sent; 408, 429 and 5xx may pass; any other answer is the channel's refusal. */
async function post(http: Http, url: string, body: string, headers: Record<string, string> = {}): Promise<SendResult> {
  const { response, outcome } = await httpRequest(http, {
    method: "POST",
    url,
    headers: { "Content-Type": "application/json", ...headers },
    body,
    timeoutMs: TIMEOUT_MS,
  });
  if (outcome) {
    const retry = outcome.kind === "retry";
    return {
      ok: false,
      retry,
      error: outcome.error,
      ...(retry && outcome.retryAfterSeconds !== undefined ? { retryAfterSeconds: outcome.retryAfterSeconds } : {}),
    };
  }
  if (response.status >= 200 && response.status < 300) return { ok: true };
  const error = `HTTP ${response.status}${response.text ? `: ${truncate(response.text, 300)}` : ""}`;
  const wait = retryAfterSeconds(response.headers);
  return { ok: false, retry: isTransientStatus(response.status), error, ...(wait === undefined ? {} : { retryAfterSeconds: wait }) };
}

/** A Block Kit message: header, the message, sync and run fields, the time, a button to the console. */
function slackMessage(p: AlertPayload) {
  const fields = [
    ...(p.sync ? [{ type: "mrkdwn", text: `*Sync*\n${p.sync.name}` }] : []),
    ...(p.run ? [{ type: "mrkdwn", text: `*Run*\n${p.run.id} (${p.run.status})` }] : []),
  ];
  return {
    // Shown in notifications and where blocks cannot be.
    text: `${alertTitle(p)}: ${p.message}`,
    blocks: [
      { type: "header", text: { type: "plain_text", text: truncate(alertTitle(p), 150) } },
      { type: "section", text: { type: "mrkdwn", text: truncate(p.message, 3000) } },
      ...(fields.length ? [{ type: "section", fields }] : []),
      { type: "context", elements: [{ type: "mrkdwn", text: `${p.event} at ${p.occurred_at}` }] },
      {
        type: "actions",
        elements: [{ type: "button", text: { type: "plain_text", text: "Open in console" }, url: p.console_url }],
      },
    ],
  };
}

/**
 * Events API v2: `recovered` resolves, every other event triggers, all under one dedup_key per sync
 * (`retl-<sync id>`), so a sync's problems are one PagerDuty incident. A test triggers and resolves its own.
 */
async function pagerDuty(http: Http, url: string, channel: OpenedChannel, p: AlertPayload): Promise<SendResult> {
  const routingKey = channel.secrets.routing_key ?? "";
  const dedupKey = p.sync ? `retl-${p.sync.id}` : `retl-test-${channel.id}`;
  if (p.event !== "recovered") {
    const trigger = await post(
      http,
      url,
      JSON.stringify({
        routing_key: routingKey,
        event_action: "trigger",
        dedup_key: dedupKey,
        payload: {
          summary: truncate(`${alertTitle(p)}: ${p.message}`, 1024),
          source: "edge-reverse-etl",
          severity: p.event === "late" || p.event === "slow" || p.event === "row_count_change" || p.event === "test" ? "warning" : "error",
          timestamp: p.occurred_at,
          component: p.sync?.name,
          class: p.event,
          custom_details: p,
        },
        links: [{ href: p.console_url, text: "Open in console" }],
      }),
    );
    if (!trigger.ok || p.event !== "test") return trigger;
  }
  return post(http, url, JSON.stringify({ routing_key: routingKey, event_action: "resolve", dedup_key: dedupKey }));
}

/** Plain text through the `send_email` binding, from ALERT_EMAIL_FROM. */
async function email(env: Env, channel: OpenedChannel, p: AlertPayload): Promise<SendResult> {
  const from = env.ALERT_EMAIL_FROM;
  if (!from) return { ok: false, retry: false, error: "ALERT_EMAIL_FROM is not set: the Worker has no sender address for email alerts" };
  const to = Array.isArray(channel.config.to) ? channel.config.to.map(String) : [];
  const text = [
    p.message,
    "",
    ...(p.sync ? [`Sync: ${p.sync.name} (${p.sync.id})`] : []),
    ...(p.run ? [`Run: ${p.run.id} (${p.run.status})`] : []),
    `Event: ${p.event} at ${p.occurred_at}`,
    `Console: ${p.console_url}`,
  ].join("\n");
  try {
    await env.ALERT_EMAIL.send({ from, to, subject: alertTitle(p), text });
    return { ok: true };
  } catch (err) {
    // The binding refuses an address it may not send to (not verified, not allowed): no retry helps.
    const error = `email not sent: ${messageOf(err)}`;
    return { ok: false, retry: !/not allowed|not verified|invalid/i.test(error), error };
  }
}
