import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { DestinationDetailSchema, loadDestination, observedRateOf, serializeDestination } from "./schema";

const route = createRoute({
  operationId: "getDestination",
  tags: ["destinations"],
  method: "get",
  path: "/api/v1/destinations/{id}",
  request: { params: z.object({ id: idParam("dst") }) },
  responses: {
    200: jsonResponse(DestinationDetailSchema, "The destination, with the request rate its limiter learned."),
    ...openApiErrorResponses,
  },
});

/** GET /api/v1/destinations/{id}. */
export function registerGetDestination(app: Router) {
  app.openapi(route, async (c) => {
    const row = await loadDestination(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json({ ...serializeDestination(row), rate_limit_observed: await observedRateOf(c.env, row) }, 200);
  });
}
