import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { AlertChannelSchema, loadChannel, serializeChannel } from "./schema";

const route = createRoute({
  operationId: "getAlertChannel",
  tags: ["alerts"],
  method: "get",
  path: "/api/v1/alert-channels/{id}",
  request: { params: z.object({ id: idParam("chn") }) },
  responses: { 200: jsonResponse(AlertChannelSchema, "The channel with its last delivery and last error."), ...openApiErrorResponses },
});

/** GET /api/v1/alert-channels/{id}. */
export function registerGetAlertChannel(app: Router) {
  app.openapi(route, async (c) => {
    const row = await loadChannel(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json(serializeChannel(row), 200);
  });
}
