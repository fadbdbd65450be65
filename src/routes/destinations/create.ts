import { createRoute } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { destinations } from "../../db/schema";
import { jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { maskDestinationCredentials } from "../../destinations/registry";
import { newId } from "../../lib/ids";
import { encryptSecret } from "../../lib/secrets";
import { checkReachable, CreateDestinationBody, DestinationDetailSchema, serializeDestination } from "./schema";

const route = createRoute({
  operationId: "createDestination",
  tags: ["destinations"],
  method: "post",
  path: "/api/v1/destinations",
  request: { body: jsonBody(CreateDestinationBody) },
  responses: { 201: jsonResponse(DestinationDetailSchema, "The destination, its credentials masked."), ...openApiErrorResponses },
});

/** POST /api/v1/destinations: credentials are sealed with the destination id as additional data. */
export function registerCreateDestination(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const credentials = body.credentials ?? null;
    checkReachable(c.env, body.type, body.config, credentials);
    const id = newId("destination");
    const now = new Date().toISOString();
    const [row] = await c.var.db
      .insert(destinations)
      .values({
        id,
        workspaceId: c.var.principal.workspaceId,
        name: body.name,
        type: body.type,
        config: body.config,
        // The object id is the additional data, so a ciphertext copied to another row does not decrypt.
        credentialsCiphertext: credentials ? await encryptSecret(c.env.ENCRYPTION_KEY, JSON.stringify(credentials), id) : null,
        credentialsMasked: credentials ? maskDestinationCredentials(credentials) : null,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    if (!row) throw new Error("insert returned no row");
    // A new destination's limiter has learned nothing yet.
    const destination = serializeDestination(row);
    await recordAudit(c, { action: "create", resourceType: "destination", resourceId: id, after: destination });
    return c.json({ ...destination, rate_limit_observed: null }, 201);
  });
}
