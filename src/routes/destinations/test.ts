import { createRoute, z } from "@hono/zod-openapi";
import { notFound } from "../../api/errors";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import type { ConnectionTest } from "../../destinations/destination";
import { type OpenedDestination, openDestination } from "../../destinations/open";
import { log } from "../../lib/log";

/** The outcome of a connection test: `error` is the destination's own reason when it refused. */
const ConnectionTestSchema = z
  .object({
    ok: z.boolean(),
    error: z.string().optional().openapi({ example: "HTTP 401: invalid token" }),
  })
  .openapi("ConnectionTest");

const route = createRoute({
  operationId: "testDestination",
  tags: ["destinations"],
  method: "post",
  path: "/api/v1/destinations/{id}/test",
  request: { params: z.object({ id: idParam("dst") }) },
  responses: {
    200: jsonResponse(ConnectionTestSchema, "Whether the destination accepts the credentials (and the object or table exists)."),
    ...openApiErrorResponses,
  },
});

/**
 * POST /api/v1/destinations/{id}/test: asks the destination itself, with the stored (decrypted)
 * credentials. A refusal is an answer, not an error: always 200 with `ok` and the reason.
 */
export function registerTestDestination(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const opened = await openDestination(c.var.db, c.env, c.var.principal.workspaceId, id);
    if (!opened.ok && opened.reason === "not_found") throw notFound("destination", id);
    // Unreadable stored settings are the answer: the user must set them again.
    const result: ConnectionTest = opened.ok ? await testConnection(opened.destination) : { ok: false, error: opened.error };
    log("destination_tested", { destination_id: id, type: opened.ok ? opened.destination.type : undefined, ok: result.ok });
    return c.json(result, 200);
  });
}

async function testConnection(destination: OpenedDestination): Promise<ConnectionTest> {
  try {
    return await destination.test();
  } catch (err) {
    // Connectors answer refusals themselves; anything thrown is still the destination's failure to report.
    return { ok: false, error: `connection test failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
