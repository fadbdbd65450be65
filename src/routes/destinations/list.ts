import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { destinations } from "../../db/schema";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { DestinationSchema, serializeDestination } from "./schema";

const route = createRoute({
  operationId: "listDestinations",
  tags: ["destinations"],
  method: "get",
  path: "/api/v1/destinations",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(listOf(DestinationSchema, "DestinationList"), "Destinations, newest first."),
    ...openApiErrorResponses,
  },
});

/** GET /api/v1/destinations, newest first. */
export function registerListDestinations(app: Router) {
  app.openapi(route, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(destinations)
      .where(and(eq(destinations.workspaceId, c.var.principal.workspaceId), cursor ? lt(destinations.id, cursor) : undefined))
      .orderBy(desc(destinations.id))
      .limit(limit + 1);
    const { items, nextCursor } = page(rows, limit);
    return c.json({ data: items.map(serializeDestination), next_cursor: nextCursor }, 200);
  });
}
