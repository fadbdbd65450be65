import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { loadModel, ModelSchema, serializeModel } from "./schema";

const route = createRoute({
  operationId: "getModel",
  tags: ["models"],
  method: "get",
  path: "/api/v1/models/{id}",
  request: { params: z.object({ id: idParam("mod") }) },
  responses: { 200: jsonResponse(ModelSchema, "The model."), ...openApiErrorResponses },
});

/** GET /api/v1/models/{id}. */
export function registerGetModel(app: Router) {
  app.openapi(route, async (c) => {
    const row = await loadModel(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json(serializeModel(row), 200);
  });
}
