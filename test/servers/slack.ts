import { createServer, type Server } from "node:http";
import { headersOf, listen } from "./alert-receiver";
import type { CannedAnswer, FakeState, ReceivedRequest } from "./alert-types";
import { readBody, tenants } from "./http";

/**
 * A fake Slack incoming webhook, following its documented contract:
 * - "Sending messages using incoming webhooks" (https://api.slack.com/messaging/webhooks): `POST`
 *   a JSON body with `text` and/or Block Kit `blocks` to the webhook URL; success is HTTP 200 with
 *   the body `ok`.
 * - "Improving error conditions for Incoming Webhooks"
 *   (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks): errors are
 *   plain-text bodies: 400 `invalid_payload` (the body cannot be understood), 403
 *   `action_prohibited`, 404 `channel_not_found`, 410 `channel_is_archived`, 500 `rollup_error`.
 * - Rate limits (https://api.slack.com/docs/rate-limits): about one message per second per
 *   webhook; beyond it 429 with `Retry-After` in seconds.
 * - Block Kit (https://api.slack.com/reference/block-kit/blocks): at most 50 blocks; a `header`
 *   has `plain_text` of at most 150 characters; a `section` has `text` (≤3000) and/or `fields`
 *   (≤10, each ≤2000); `context` has `elements`; `actions` has `elements` whose buttons carry a
 *   `plain_text` label and an optional `url` (≤3000). A message breaking these is `invalid_payload`
 *   here (Slack also answers `invalid_blocks`).
 *
 * Hooks live at `POST /services/{name}/…` (a test's namespace; any rest of the path). Control:
 * `POST /_config/{name}` `{"answers":[…], "gone"?: "channel_not_found"|"channel_is_archived",
 * "per_second"?: n}`, `GET /_state/{name}`.
 */
interface HookConfig {
  answers: CannedAnswer[];
  /** The webhook's channel is gone: every request gets this error. */
  gone?: "channel_not_found" | "channel_is_archived";
  /** Messages accepted per rolling second (default 1, as documented); beyond, 429 with Retry-After: 1. */
  per_second: number;
}

export function startFakeSlack(port = 0): Promise<{ server: Server; port: number }> {
  const hook = tenants<{ config: HookConfig; requests: ReceivedRequest[] }>(() => ({
    config: { answers: [], per_second: 1 },
    requests: [],
  })).of;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const [, kind, name = ""] = url.pathname.split("/");
    const raw = await readBody(req);
    const h = hook(name);
    if (req.method === "GET" && kind === "_state") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ requests: h.requests } satisfies FakeState));
    }
    if (req.method === "POST" && kind === "_config") {
      h.config = { answers: [], per_second: 1, ...(JSON.parse(raw) as Partial<HookConfig>) };
      res.writeHead(200);
      return res.end("ok");
    }
    if (req.method !== "POST" || kind !== "services") {
      res.writeHead(404, { "content-type": "text/plain" });
      return res.end("no_service");
    }
    const now = Date.now();
    const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
      h.requests.push({ at: now, path: url.pathname, headers: headersOf(req.headers), raw, status, answer: body });
      res.writeHead(status, { "content-type": "text/plain", ...headers });
      res.end(body);
    };
    const canned = h.config.answers[0];
    if (canned) {
      canned.times = (canned.times ?? 1) - 1;
      if (canned.times <= 0) h.config.answers.shift();
      return answer(canned.status, canned.body ?? "", canned.retry_after ? { "retry-after": canned.retry_after } : {});
    }
    if (h.config.gone) return answer(h.config.gone === "channel_not_found" ? 404 : 410, h.config.gone);
    const recent = h.requests.filter((r) => r.status === 200 && now - r.at < 1000).length;
    if (recent >= h.config.per_second) return answer(429, "rate_limited", { "retry-after": "1" });
    if (!validMessage(raw)) return answer(400, "invalid_payload");
    return answer(200, "ok");
  });
  return listen(server, port);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const plainText = (v: unknown, max: number) =>
  isObject(v) && v.type === "plain_text" && typeof v.text === "string" && v.text.length > 0 && v.text.length <= max;
const textObject = (v: unknown, max: number) =>
  isObject(v) &&
  (v.type === "plain_text" || v.type === "mrkdwn") &&
  typeof v.text === "string" &&
  v.text.length > 0 &&
  v.text.length <= max;

/** The message rules of the documented contract (see the header). */
function validMessage(raw: string): boolean {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return false;
  }
  if (!isObject(body)) return false;
  const hasText = typeof body.text === "string" && body.text.length > 0;
  if (body.blocks === undefined) return hasText;
  if (!Array.isArray(body.blocks) || body.blocks.length === 0 || body.blocks.length > 50) return false;
  return body.blocks.every((b) => {
    if (!isObject(b)) return false;
    switch (b.type) {
      case "header":
        return plainText(b.text, 150);
      case "section": {
        const fields = b.fields;
        const okFields = fields === undefined || (Array.isArray(fields) && fields.length <= 10 && fields.every((f) => textObject(f, 2000)));
        return (b.text !== undefined || fields !== undefined) && (b.text === undefined || textObject(b.text, 3000)) && okFields;
      }
      case "context":
        return (
          Array.isArray(b.elements) && b.elements.length > 0 && b.elements.length <= 10 && b.elements.every((e) => textObject(e, 3000))
        );
      case "actions":
        return (
          Array.isArray(b.elements) &&
          b.elements.length > 0 &&
          b.elements.every(
            (e) =>
              isObject(e) &&
              e.type === "button" &&
              plainText(e.text, 75) &&
              (e.url === undefined || (typeof e.url === "string" && e.url.length <= 3000)),
          )
        );
      default:
        return false;
    }
  });
}
