import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { loadToken, serializeToken, TokenSchema } from "./schema";

const route = createRoute({
  operationId: "getToken",
  tags: ["tokens"],
  method: "get",
  path: "/api/v1/tokens/{id}",
  request: { params: z.object({ id: idParam("tok") }) },
  responses: { 200: jsonResponse(TokenSchema, "The token, without its secret."), ...openApiErrorResponses },
});

/** GET /api/v1/tokens/{id}. */
export function registerGetToken(app: Router) {
  app.openapi(route, async (c) => {
    const row = await loadToken(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json(serializeToken(row), 200);
  });
}
