import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { destinations } from "../../db/schema";
import { validationError, type ErrorDetail } from "../../api/errors";
import { idParam, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { maskDestinationCredentials, parseConfig, parseCredentials } from "../../destinations/registry";
import { encryptSecret } from "../../lib/secrets";
import {
  checkReachable,
  DestinationDetailSchema,
  loadDestination,
  observedRateOf,
  serializeDestination,
  UpdateDestinationBody,
} from "./schema";

const route = createRoute({
  operationId: "updateDestination",
  tags: ["destinations"],
  method: "put",
  path: "/api/v1/destinations/{id}",
  request: { params: z.object({ id: idParam("dst") }), body: jsonBody(UpdateDestinationBody) },
  responses: { 200: jsonResponse(DestinationDetailSchema, "The updated destination."), ...openApiErrorResponses },
});

/** PUT /api/v1/destinations/{id}: replaces name, config and/or credentials; the type is fixed. */
export function registerUpdateDestination(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const current = await loadDestination(c.var.db, c.var.principal.workspaceId, id);

    // The stored type picks the schemas, so config and credentials are checked here, not by the route.
    const problems: ErrorDetail[] = [];
    if (body.type !== undefined && body.type !== current.type) {
      problems.push({ path: "type", message: `is ${current.type} and cannot change; create a new destination instead` });
    }
    const config = body.config === undefined ? undefined : parseConfig(current.type, body.config);
    const credentials = body.credentials === undefined ? undefined : parseCredentials(current.type, body.credentials);
    if (config && !config.ok) problems.push(...config.problems);
    if (credentials && !credentials.ok) problems.push(...credentials.problems);
    if (problems.length > 0) throw validationError(problems);

    // The stored config was validated when saved; parsing it again gives the typed value the check reads.
    const nextConfig = config ?? parseConfig(current.type, current.config);
    if (!nextConfig.ok) throw validationError(nextConfig.problems);
    const nextCredentials = credentials?.ok ? credentials.value : undefined;
    // Stored credentials stay sealed; only newly given ones are checked for private addresses.
    checkReachable(c.env, current.type, nextConfig.value, nextCredentials ?? null);

    const [row] = await c.var.db
      .update(destinations)
      .set({
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(config?.ok ? { config: config.value } : {}),
        ...(nextCredentials === undefined
          ? {}
          : {
              credentialsCiphertext: nextCredentials
                ? await encryptSecret(c.env.ENCRYPTION_KEY, JSON.stringify(nextCredentials), id)
                : null,
              credentialsMasked: nextCredentials ? maskDestinationCredentials(nextCredentials) : null,
            }),
        updatedAt: new Date().toISOString(),
      })
      .where(eq(destinations.id, id))
      .returning();
    if (!row) throw new Error("update returned no row");
    const after = serializeDestination(row);
    await recordAudit(c, {
      action: "update",
      resourceType: "destination",
      resourceId: id,
      before: serializeDestination(current),
      after,
      secretsChanged: nextCredentials === undefined ? [] : ["credentials"],
    });
    return c.json({ ...after, rate_limit_observed: await observedRateOf(c.env, row) }, 200);
  });
}
