import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { models } from "../../db/schema";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { ModelSchema, serializeModel } from "./schema";

const route = createRoute({
  operationId: "listModels",
  tags: ["models"],
  method: "get",
  path: "/api/v1/models",
  request: { query: ListQuery },
  responses: { 200: jsonResponse(listOf(ModelSchema, "ModelList"), "Models, newest first."), ...openApiErrorResponses },
});

/** GET /api/v1/models, newest first. */
export function registerListModels(app: Router) {
  app.openapi(route, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(models)
      .where(and(eq(models.workspaceId, c.var.principal.workspaceId), cursor ? lt(models.id, cursor) : undefined))
      .orderBy(desc(models.id))
      .limit(limit + 1);
    const { items, nextCursor } = page(rows, limit);
    return c.json({ data: items.map(serializeModel), next_cursor: nextCursor }, 200);
  });
}
