import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { loadSource, serializeSource, SourceSchema } from "./schema";

const route = createRoute({
  operationId: "getSource",
  tags: ["sources"],
  method: "get",
  path: "/api/v1/sources/{id}",
  request: { params: z.object({ id: idParam("src") }) },
  responses: { 200: jsonResponse(SourceSchema, "The source."), ...openApiErrorResponses },
});

export function registerGetSource(app: Router) {
  app.openapi(route, async (c) => {
    const row = await loadSource(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json(serializeSource(row), 200);
  });
}
