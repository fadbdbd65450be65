import { createServer, type Server } from "node:http";
import { headersOf, listen } from "./alert-receiver";
import type { CannedAnswer, PagerDutyState } from "./alert-types";
import { readBody, tenants } from "./http";

/**
 * A fake PagerDuty Events API v2, following its documented contract
 * ("Send an Alert Event", https://developer.pagerduty.com/docs/events-api-v2/trigger-events/;
 * responses as in https://v2.developer.pagerduty.com/docs/send-an-event-events-api-v2 and the
 * Events API v2 OpenAPI document,
 * https://raw.githubusercontent.com/PagerDuty/api-schema/main/reference/events-v2/openapiv3.json):
 * - `POST /v2/enqueue` with `routing_key` (the 32-character integration key), `event_action`
 *   (`trigger`, `acknowledge` or `resolve`), `dedup_key` (≤255 characters; required for
 *   acknowledge and resolve, generated for a trigger without one) and, for a trigger, `payload`
 *   with `summary` (≤1024), `source` and `severity` (`critical`, `error`, `warning`, `info`);
 * - 202 `{"status":"success","message":"Event processed","dedup_key"}`;
 * - 400 `{"status":"invalid event","message":"Event object is invalid","errors":[…]}`;
 * - 429 when too many events reach the integration (no body to rely on: retry with backoff);
 * - a trigger with the dedup_key of an open alert adds to it; a resolve closes it.
 *
 * Each routing key is a test's namespace. Control: `POST /_config/{routing_key}`
 * `{"answers":[{status, body?, retry_after?, times?}]}`, `GET /_state/{routing_key}`.
 */
export function startFakePagerDuty(port = 0): Promise<{ server: Server; port: number }> {
  const ns = tenants<PagerDutyState & { answers: CannedAnswer[] }>(() => ({ answers: [], requests: [], alerts: {} })).of;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const raw = await readBody(req);
    const [, kind, name = ""] = url.pathname.split("/");
    if (req.method === "GET" && kind === "_state") {
      const { answers: _a, ...state } = ns(name);
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(state satisfies PagerDutyState));
    }
    if (req.method === "POST" && kind === "_config") {
      ns(name).answers = (JSON.parse(raw) as { answers?: CannedAnswer[] }).answers ?? [];
      res.writeHead(200);
      return res.end("ok");
    }
    if (req.method !== "POST" || url.pathname !== "/v2/enqueue") {
      res.writeHead(404, { "content-type": "application/json" });
      return res.end(JSON.stringify({ status: "not found", message: `no route for ${req.method} ${url.pathname}` }));
    }
    let event: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === "object" && parsed !== null) event = parsed as Record<string, unknown>;
    } catch {
      // an unparsable body is an invalid event below
    }
    const key = typeof event.routing_key === "string" ? event.routing_key : "";
    const k = ns(key);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = body === undefined ? "" : JSON.stringify(body);
      k.requests.push({ at: Date.now(), path: url.pathname, headers: headersOf(req.headers), raw, status, answer: text });
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(text);
    };
    const canned = k.answers[0];
    if (canned) {
      canned.times = (canned.times ?? 1) - 1;
      if (canned.times <= 0) k.answers.shift();
      return reply(
        canned.status,
        canned.body === undefined ? undefined : canned.body,
        canned.retry_after ? { "retry-after": canned.retry_after } : {},
      );
    }
    const errors = problems(event);
    if (errors.length) return reply(400, { status: "invalid event", message: "Event object is invalid", errors });
    const dedupKey = typeof event.dedup_key === "string" ? event.dedup_key : crypto.randomUUID().replaceAll("-", "");
    const payload = (event.payload ?? {}) as Record<string, unknown>;
    const existing = k.alerts[dedupKey];
    if (event.event_action === "trigger") {
      k.alerts[dedupKey] =
        existing?.status === "triggered"
          ? { ...existing, events: existing.events + 1 }
          : { status: "triggered", summary: String(payload.summary), severity: String(payload.severity), events: 1 };
    } else if (event.event_action === "resolve" && existing) {
      k.alerts[dedupKey] = { ...existing, status: "resolved", events: existing.events + 1 };
    }
    return reply(202, { status: "success", message: "Event processed", dedup_key: dedupKey });
  });
  return listen(server, port);
}

const SEVERITIES = ["critical", "error", "warning", "info"];

/** The documented validation errors of an event. */
function problems(e: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof e.routing_key !== "string" || e.routing_key.length !== 32)
    out.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  if (!["trigger", "acknowledge", "resolve"].includes(String(e.event_action)))
    out.push("'event_action' is invalid (must be one of trigger, acknowledge, resolve)");
  if (e.dedup_key !== undefined && (typeof e.dedup_key !== "string" || e.dedup_key.length > 255))
    out.push("'dedup_key' is invalid (at most 255 characters)");
  if (e.event_action !== "trigger" && e.dedup_key === undefined) out.push("'dedup_key' is missing (required for acknowledge and resolve)");
  if (e.event_action === "trigger") {
    const p = e.payload as Record<string, unknown> | undefined;
    if (typeof p !== "object" || p === null) out.push("'payload' is missing");
    else {
      if (typeof p.summary !== "string" || p.summary.length === 0) out.push("'payload.summary' is missing");
      else if (p.summary.length > 1024) out.push("'payload.summary' is too long (at most 1024 characters)");
      if (typeof p.source !== "string" || p.source.length === 0) out.push("'payload.source' is missing");
      if (!SEVERITIES.includes(String(p.severity)))
        out.push("'payload.severity' is invalid (must be one of critical, error, warning, info)");
    }
  }
  return out;
}
