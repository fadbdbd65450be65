import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { sources } from "../../db/schema";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { serializeSource, SourceSchema } from "./schema";

const route = createRoute({
  operationId: "listSources",
  tags: ["sources"],
  method: "get",
  path: "/api/v1/sources",
  request: { query: ListQuery },
  responses: { 200: jsonResponse(listOf(SourceSchema, "SourceList"), "Sources, newest first."), ...openApiErrorResponses },
});

export function registerListSources(app: Router) {
  app.openapi(route, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(sources)
      .where(and(eq(sources.workspaceId, c.var.principal.workspaceId), cursor ? lt(sources.id, cursor) : undefined))
      .orderBy(desc(sources.id))
      .limit(limit + 1);
    const { items, nextCursor } = page(rows, limit);
    return c.json({ data: items.map(serializeSource), next_cursor: nextCursor }, 200);
  });
}
