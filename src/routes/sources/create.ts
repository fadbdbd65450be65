import { createRoute } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { sources } from "../../db/schema";
import { validationError } from "../../api/errors";
import { issueDetails, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { newId } from "../../lib/ids";
import { encryptSecret } from "../../lib/secrets";
import { sourcePlugin } from "../../sources/registry";
import { bodySettings, CreateSourceBody, createIssues, SourceSchema, serializeSource, storedConfig } from "./schema";

const route = createRoute({
  operationId: "createSource",
  tags: ["sources"],
  method: "post",
  path: "/api/v1/sources",
  request: { body: jsonBody(CreateSourceBody) },
  responses: { 201: jsonResponse(SourceSchema, "The source, its password masked."), ...openApiErrorResponses },
});

export function registerCreateSource(app: Router) {
  app.openapi(
    route,
    async (c) => {
      const { name, type, ...body } = c.req.valid("json");
      const settings = bodySettings(body);
      const { secret, masked } = sourcePlugin(type).seal(settings);
      const id = newId("source");
      const now = new Date().toISOString();
      const [row] = await c.var.db
        .insert(sources)
        .values({
          id,
          workspaceId: c.var.principal.workspaceId,
          name,
          type,
          connectionCiphertext: await encryptSecret(c.env.ENCRYPTION_KEY, secret, id),
          connectionMasked: masked,
          config: storedConfig(type, settings),
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      if (!row) throw new Error("insert returned no row");
      const source = serializeSource(row);
      await recordAudit(c, { action: "create", resourceType: "source", resourceId: id, after: source });
      return c.json(source, 201);
    },
    (result) => {
      // An unknown type still gets every bad field named (see createIssues).
      if (!result.success)
        throw validationError(issueDetails(createIssues("data" in result ? result.data : undefined, result.error.issues)));
    },
  );
}
