import { createRoute, z } from "@hono/zod-openapi";
import { alertPayload } from "../../alerts/events";
import { openChannel, recordOutcome } from "../../alerts/queue";
import { sendAlert } from "../../alerts/send";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { newId } from "../../lib/ids";
import { log } from "../../lib/log";
import { loadChannel } from "./schema";

const ChannelTestSchema = z
  .object({
    ok: z.boolean(),
    error: z.string().optional().openapi({ example: "HTTP 404: no_service" }),
  })
  .openapi("AlertChannelTest");

const route = createRoute({
  operationId: "testAlertChannel",
  tags: ["alerts"],
  method: "post",
  path: "/api/v1/alert-channels/{id}/test",
  request: { params: z.object({ id: idParam("chn") }) },
  responses: {
    200: jsonResponse(ChannelTestSchema, "Whether the channel accepted a `test` alert, and its refusal when not."),
    ...openApiErrorResponses,
  },
});

/**
 * POST /api/v1/alert-channels/{id}/test: sends a `test` alert now (not through the queue, so the
 * answer is the channel's own) and records it as the channel's last delivery or last error.
 */
export function registerTestAlertChannel(app: Router) {
  app.openapi(route, async (c) => {
    const row = await loadChannel(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id);
    const payload = alertPayload("test", null, null, `test alert from the channel "${row.name}"`, c.env.CONSOLE_URL);
    const result = await sendAlert(c.env, await openChannel(c.env, row), payload, newId("alert"));
    await recordOutcome(c.var.db, row.id, result);
    log("alert_channel_tested", { channel_id: row.id, type: row.type, ok: result.ok });
    return c.json(result.ok ? { ok: true } : { ok: false, error: result.error }, 200);
  });
}
