import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { connectorFor } from "../../destination/connectors";
import { log } from "../../lib/log";
import { decryptSecret } from "../../lib/secrets";
import { loadDestination, type DestinationRow } from "./schema";

/** The outcome of a connection test: `error` is the destination's own reason when it refused. */
export const ConnectionTestSchema = z
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
    const row = await loadDestination(c.var.db, c.var.principal.workspaceId, c.req.valid("param").id);
    const result = await testConnection(c.env, row);
    log("destination_tested", { destination_id: row.id, type: row.type, ok: result.ok });
    return c.json(result, 200);
  });
}

async function testConnection(env: Env, row: DestinationRow): Promise<z.infer<typeof ConnectionTestSchema>> {
  let credentials: Record<string, unknown> = {};
  if (row.credentialsCiphertext) {
    try {
      credentials = JSON.parse(await decryptSecret(env.ENCRYPTION_KEY, row.credentialsCiphertext, row.id)) as Record<string, unknown>;
    } catch {
      return { ok: false, error: "the stored credentials cannot be decrypted; set them again" };
    }
  }
  try {
    return await connectorFor(row.type).testConnection({
      config: row.config,
      credentials,
      allowPrivate: env.ALLOW_PRIVATE_DESTINATIONS === "true",
      fetch: globalThis.fetch.bind(globalThis),
    });
  } catch (err) {
    // Connectors answer refusals themselves; anything thrown is still the destination's failure to report.
    return { ok: false, error: `connection test failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
