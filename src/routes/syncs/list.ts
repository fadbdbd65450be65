import { createRoute, z } from "@hono/zod-openapi";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { SYNC_STATUSES } from "../../sync/lifecycle";
import { listSyncsWithLastRun, SyncSchema, serializeSyncWithLastRun } from "./schema";

const route = createRoute({
  operationId: "listSyncs",
  tags: ["syncs"],
  method: "get",
  path: "/api/v1/syncs",
  request: {
    query: ListQuery.extend({
      status: z.enum(SYNC_STATUSES).optional().openapi({ description: "Only this status; archived syncs are listed only when asked for." }),
      model_id: z.string().max(64).optional(),
      destination_id: z.string().max(64).optional(),
    }),
  },
  responses: { 200: jsonResponse(listOf(SyncSchema, "SyncList"), "Syncs, newest first."), ...openApiErrorResponses },
});

export function registerListSyncs(app: Router) {
  app.openapi(route, async (c) => {
    const q = c.req.valid("query");
    const rows = await listSyncsWithLastRun(c.var.db, {
      workspaceId: c.var.principal.workspaceId,
      status: q.status,
      modelId: q.model_id,
      destinationId: q.destination_id,
      before: q.cursor,
      limit: q.limit + 1,
    });
    const { items, nextCursor } = page(rows, q.limit);
    const origin = new URL(c.req.url).origin;
    return c.json({ data: items.map((r) => serializeSyncWithLastRun(r, origin)), next_cursor: nextCursor }, 200);
  });
}
