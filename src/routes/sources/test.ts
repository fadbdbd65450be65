import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { decryptSecret } from "../../lib/secrets";
import { openSource } from "../../sources/registry";
import { warehouseOptions } from "../../sources/source";
import { loadSource } from "./schema";

const TestResult = z
  .object({
    ok: z.boolean(),
    latency_ms: z.number().optional(),
    server_version: z.string().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .openapi("SourceTestResult");

const route = createRoute({
  operationId: "testSource",
  tags: ["sources"],
  method: "post",
  path: "/api/v1/sources/{id}/test",
  request: { params: z.object({ id: idParam("src") }) },
  responses: {
    200: jsonResponse(TestResult, "Whether the warehouse accepted a connection; a failure is a result, not an error."),
    ...openApiErrorResponses,
  },
});

export function registerTestSource(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const row = await loadSource(c.var.db, c.var.principal.workspaceId, id);
    const secret = await decryptSecret(c.env.ENCRYPTION_KEY, row.connectionCiphertext, row.id);
    return c.json(await openSource(row.type, secret, warehouseOptions(c.env)).test(), 200);
  });
}
