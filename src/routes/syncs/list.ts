import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, lt, ne } from "drizzle-orm";
import { syncs } from "../../db/schema";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { SYNC_STATUSES } from "../../sync/lifecycle";
import { SyncSchema, selectSyncsWithLastRun, serializeSyncWithLastRun } from "./schema";

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
    const rows = await selectSyncsWithLastRun(c.var.db)
      .where(
        and(
          eq(syncs.workspaceId, c.var.principal.workspaceId),
          q.status ? eq(syncs.status, q.status) : ne(syncs.status, "archived"),
          q.model_id ? eq(syncs.modelId, q.model_id) : undefined,
          q.destination_id ? eq(syncs.destinationId, q.destination_id) : undefined,
          q.cursor ? lt(syncs.id, q.cursor) : undefined,
        ),
      )
      .orderBy(desc(syncs.id))
      .limit(q.limit + 1);
    const { items, nextCursor } = page(
      rows.map((r) => ({ id: r.sync.id, ...r })),
      q.limit,
    );
    const origin = new URL(c.req.url).origin;
    return c.json({ data: items.map((r) => serializeSyncWithLastRun(r, origin)), next_cursor: nextCursor }, 200);
  });
}
