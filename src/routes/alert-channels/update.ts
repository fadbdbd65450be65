import { recordAudit } from "../../api/audit";
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { validationError } from "../../api/errors";
import { idParam, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { alertChannels } from "../../db/schema";
import { decryptSecret } from "../../lib/secrets";
import { AlertChannelSchema, checkConfig, loadChannel, serializeChannel, storedConfig, UpdateAlertChannelBody } from "./schema";

const route = createRoute({
  operationId: "updateAlertChannel",
  tags: ["alerts"],
  method: "put",
  path: "/api/v1/alert-channels/{id}",
  request: { params: z.object({ id: idParam("chn") }), body: jsonBody(UpdateAlertChannelBody) },
  responses: { 200: jsonResponse(AlertChannelSchema, "The updated channel."), ...openApiErrorResponses },
});

/** PUT /api/v1/alert-channels/{id}: name, default and/or the whole config; the type is fixed, a webhook keeps its signing secret. */
export function registerUpdateAlertChannel(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const current = await loadChannel(c.var.db, c.var.principal.workspaceId, id);
    if (body.type !== undefined && body.type !== current.type) {
      throw validationError([{ path: "type", message: `is ${current.type} and cannot change; create a new channel instead` }]);
    }
    const config = body.config === undefined ? undefined : checkConfig(c.env, current.type, body.config);
    let stored = {};
    if (config) {
      const kept =
        current.type === "webhook" && current.secretsCiphertext
          ? await decryptSecret(c.env.ENCRYPTION_KEY, current.secretsCiphertext, id)
          : null;
      const signingSecret = kept ? (JSON.parse(kept) as { signing_secret?: string }).signing_secret : undefined;
      stored = await storedConfig(c.env.ENCRYPTION_KEY, id, current.type, config, signingSecret);
    }
    const [row] = await c.var.db
      .update(alertChannels)
      .set({
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.default === undefined ? {} : { isDefault: body.default }),
        ...stored,
        updatedAt: new Date().toISOString(),
      })
      .where(eq(alertChannels.id, id))
      .returning();
    if (!row) throw new Error("update returned no row");
    const after = serializeChannel(row);
    await recordAudit(c, { action: "update", resourceType: "alert_channel", resourceId: id, before: serializeChannel(current), after });
    return c.json(after, 200);
  });
}
