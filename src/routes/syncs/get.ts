import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { syncResponse, SyncSchema } from "./schema";

const route = createRoute({
  operationId: "getSync",
  tags: ["syncs"],
  method: "get",
  path: "/api/v1/syncs/{id}",
  request: { params: z.object({ id: idParam("syn") }) },
  responses: { 200: jsonResponse(SyncSchema, "The sync with its last run."), ...openApiErrorResponses },
});

export function registerGetSync(app: Router) {
  app.openapi(route, async (c) => {
    const body = await syncResponse(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id, new URL(c.req.url).origin);
    return c.json(body, 200);
  });
}
