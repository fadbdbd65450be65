import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { destinations } from "../../db/schema";
import { idParam, openApiErrorResponses, type Router } from "../../api/openapi";
import { assertUnused, loadDestination, serializeDestination } from "./schema";

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
    const destination = await loadDestination(c.var.db, c.var.principal.workspaceId, id);
    await assertUnused(c.var.db, id);
    await c.var.db.delete(destinations).where(eq(destinations.id, id));
    await recordAudit(c, { action: "delete", resourceType: "destination", resourceId: id, before: serializeDestination(destination) });
    return c.body(null, 204);
  });
}
