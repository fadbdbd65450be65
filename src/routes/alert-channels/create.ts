import { recordAudit } from "../../api/audit";
import { createRoute } from "@hono/zod-openapi";
import { jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { alertChannels } from "../../db/schema";
import { randomSecret } from "../../lib/crypto";
import { newId } from "../../lib/ids";
import { checkConfig, CreateAlertChannelBody, CreatedAlertChannelSchema, serializeChannel, storedConfig } from "./schema";

const route = createRoute({
  operationId: "createAlertChannel",
  tags: ["alerts"],
  method: "post",
  path: "/api/v1/alert-channels",
  request: { body: jsonBody(CreateAlertChannelBody) },
  responses: {
    201: jsonResponse(CreatedAlertChannelSchema, "The channel, secrets masked; a webhook channel's signing secret this once."),
    ...openApiErrorResponses,
  },
});

/** POST /api/v1/alert-channels. */
export function registerCreateAlertChannel(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const config = checkConfig(c.env, body.type, body.config);
    const id = newId("alertChannel");
    const signingSecret = body.type === "webhook" ? randomSecret(32) : undefined;
    const now = new Date().toISOString();
    const [row] = await c.var.db
      .insert(alertChannels)
      .values({
        id,
        workspaceId: c.var.principal.workspaceId,
        name: body.name,
        type: body.type,
        ...(await storedConfig(c.env.ENCRYPTION_KEY, id, body.type, config, signingSecret)),
        isDefault: body.default ?? false,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    if (!row) throw new Error("insert returned no row");
    await recordAudit(c, { action: "create", resourceType: "alert_channel", resourceId: id, after: serializeChannel(row) });
    return c.json({ ...serializeChannel(row), ...(signingSecret ? { signing_secret: signingSecret } : {}) }, 201);
  });
}
