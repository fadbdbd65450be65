import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { apiTokens } from "../../db/schema";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { serializeToken, TokenSchema } from "./schema";

const route = createRoute({
  operationId: "listTokens",
  tags: ["tokens"],
  method: "get",
  path: "/api/v1/tokens",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(listOf(TokenSchema, "TokenList"), "The workspace's tokens, revoked ones included, newest first."),
    ...openApiErrorResponses,
  },
});

/** GET /api/v1/tokens, newest first. */
export function registerListTokens(app: Router) {
  app.openapi(route, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(apiTokens)
      .where(and(eq(apiTokens.workspaceId, c.var.principal.workspaceId), cursor ? lt(apiTokens.id, cursor) : undefined))
      .orderBy(desc(apiTokens.id))
      .limit(limit + 1);
    const { items, nextCursor } = page(rows, limit);
    return c.json({ data: items.map(serializeToken), next_cursor: nextCursor }, 200);
  });
}
