import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { alertChannels } from "../../db/schema";
import { AlertChannelSchema, serializeChannel } from "./schema";

const route = createRoute({
  operationId: "listAlertChannels",
  tags: ["alerts"],
  method: "get",
  path: "/api/v1/alert-channels",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(listOf(AlertChannelSchema, "AlertChannelList"), "Alert channels, newest first."),
    ...openApiErrorResponses,
  },
});

/** GET /api/v1/alert-channels, newest first. */
export function registerListAlertChannels(app: Router) {
  app.openapi(route, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(alertChannels)
      .where(and(eq(alertChannels.workspaceId, c.var.principal.workspaceId), cursor ? lt(alertChannels.id, cursor) : undefined))
      .orderBy(desc(alertChannels.id))
      .limit(limit + 1);
    const { items, nextCursor } = page(rows, limit);
    return c.json({ data: items.map(serializeChannel), next_cursor: nextCursor }, 200);
  });
}
