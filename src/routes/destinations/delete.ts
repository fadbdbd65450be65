import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { destinations } from "../../db/schema";
import { idParam, openApiErrorResponses, type Router } from "../../api/openapi";
import { assertUnused, loadDestination } from "./schema";

const route = createRoute({
  operationId: "deleteDestination",
  tags: ["destinations"],
  method: "delete",
  path: "/api/v1/destinations/{id}",
  request: { params: z.object({ id: idParam("dst") }) },
  responses: { 204: { description: "Deleted." }, ...openApiErrorResponses },
});

/** DELETE /api/v1/destinations/{id}: refused (409) while a sync writes to it. */
export function registerDeleteDestination(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    await loadDestination(c.var.db, c.var.principal.workspaceId, id);
    await assertUnused(c.var.db, id);
    await c.var.db.delete(destinations).where(eq(destinations.id, id));
    return c.body(null, 204);
  });
}
