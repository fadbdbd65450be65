/** The alert tests' helpers: channels on the local fakes, and reading what the fakes received. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { hmacSha256Hex } from "../../src/lib/crypto";
import { ADMIN, api, expectStatus } from "../harness";
import { uniqueName } from "../harness/run";
import type { CannedAnswer, FakeState, PagerDutyState, ReceivedRequest } from "../servers/alert-types";
import type { AlertPayload } from "../../src/alerts/events";

/** A webhook alert channel on the alert receiver: its id, signing secret and receiver endpoint. */
export async function webhookChannel(extra: Record<string, unknown> = {}, token = ADMIN) {
  const endpoint = uniqueName("alerts");
  const res = await api.post("/api/v1/alert-channels", {
    token,
    body: { name: `hook ${endpoint}`, type: "webhook", config: { url: `${env.ALERT_RECEIVER_URL}/r/${endpoint}` }, ...extra },
  });
  expectStatus(res, 201);
  expect(res.body.signing_secret).toMatch(/^[\w-]{40,}$/);
  return { id: res.body.id, secret: res.body.signing_secret ?? "", endpoint };
}

/** A Slack channel on the fake Slack. */
export async function slackChannel() {
  const hook = uniqueName("slack");
  const res = await api.post("/api/v1/alert-channels", {
    body: { name: "slack", type: "slack", config: { webhook_url: `${env.SLACK_URL}/services/${hook}/B000/XXXXXXXXXXXXXXXX` } },
  });
  expectStatus(res, 201);
  return { id: res.body.id, hook };
}

/** A PagerDuty channel with a fresh 32-character routing key (the fake's namespace). */
export async function pagerDutyChannel() {
  const routingKey = crypto.randomUUID().replaceAll("-", "");
  const res = await api.post("/api/v1/alert-channels", { body: { name: "pd", type: "pagerduty", config: { routing_key: routingKey } } });
  expectStatus(res, 201);
  return { id: res.body.id, routingKey };
}

const PAGERDUTY_BASE = () => env.PAGERDUTY_EVENTS_URL.replace(/\/v2\/enqueue$/, "");

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  await res.body?.cancel();
}

export const receiverState = (endpoint: string) => getJson<FakeState>(`${env.ALERT_RECEIVER_URL}/_state/${endpoint}`);
export const slackState = (hook: string) => getJson<FakeState>(`${env.SLACK_URL}/_state/${hook}`);
export const pagerDutyState = (key: string) => getJson<PagerDutyState>(`${PAGERDUTY_BASE()}/_state/${key}`);
export const answerReceiver = (endpoint: string, answers: CannedAnswer[]) =>
  postJson(`${env.ALERT_RECEIVER_URL}/_config/${endpoint}`, { answers });
export const answerPagerDuty = (key: string, answers: CannedAnswer[]) => postJson(`${PAGERDUTY_BASE()}/_config/${key}`, { answers });
export const configureSlack = (hook: string, config: Record<string, unknown>) => postJson(`${env.SLACK_URL}/_config/${hook}`, config);

/** The payload of a received webhook alert, after checking its signature over the exact body. */
export async function verifiedPayload(req: ReceivedRequest, secret: string): Promise<AlertPayload> {
  const timestamp = req.headers["x-timestamp"] ?? "";
  expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(300);
  expect(req.headers["x-signature"]).toBe(`sha256=${await hmacSha256Hex(secret, `${timestamp}.${req.raw}`)}`);
  return JSON.parse(req.raw) as AlertPayload;
}

/** Polls `read` until `done` holds (or throws after `timeoutMs`); returns the last value. */
export async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}
