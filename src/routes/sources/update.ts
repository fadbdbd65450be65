import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { sources } from "../../db/schema";
import { validationError } from "../../api/errors";
import { idParam, issueDetails, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { decryptSecret, encryptSecret } from "../../lib/secrets";
import { sourcePlugin } from "../../sources/registry";
import {
  bodySettings,
  credentialsIssue,
  loadSource,
  type SourceRow,
  SourceSchema,
  serializeSource,
  storedConfig,
  UpdateSourceBody,
  updateIssues,
} from "./schema";

const route = createRoute({
  operationId: "updateSource",
  tags: ["sources"],
  method: "put",
  path: "/api/v1/sources/{id}",
  request: { params: z.object({ id: idParam("src") }), body: jsonBody(UpdateSourceBody) },
  responses: { 200: jsonResponse(SourceSchema, "The updated source."), ...openApiErrorResponses },
});

export function registerUpdateSource(app: Router) {
  app.openapi(
    route,
    async (c) => {
      const { id } = c.req.valid("param");
      const { name, ...body } = c.req.valid("json");
      const settings = bodySettings(body);
      const source = await loadSource(c.var.db, c.var.principal.workspaceId, id);
      const sealed = Object.keys(settings).length === 0 ? undefined : await sealSettings(c.env, source, settings);
      const [row] = await c.var.db
        .update(sources)
        .set({
          ...(name === undefined ? {} : { name }),
          ...(sealed === undefined
            ? {}
            : {
                connectionCiphertext: await encryptSecret(c.env.ENCRYPTION_KEY, sealed.secret, id),
                connectionMasked: sealed.masked,
                config: storedConfig(source.type, sealed.settings),
              }),
          updatedAt: new Date().toISOString(),
        })
        .where(eq(sources.id, id))
        .returning();
      if (!row) throw new Error("update returned no row");
      const after = serializeSource(row);
      await recordAudit(c, {
        action: "update",
        resourceType: "source",
        resourceId: id,
        before: serializeSource(source),
        after,
        secretsChanged: sealed === undefined ? [] : ["connection_string"],
      });
      return c.json(after, 200);
    },
    (result) => {
      // A union of every type's body would only say "Invalid input" (see updateIssues).
      if (!result.success)
        throw validationError(issueDetails(updateIssues("data" in result ? result.data : undefined, result.error.issues)));
    },
  );
}

/**
 * The source's settings with the given ones changed, sealed. The stored ones are decrypted only
 * when the body does not replace them all; the result must fit the source's own type.
 */
async function sealSettings(
  env: Env,
  source: SourceRow,
  changes: Record<string, unknown>,
): Promise<{ secret: string; masked: string; settings: Record<string, unknown> }> {
  const plugin = sourcePlugin(source.type);
  const schema = plugin.config.extend(plugin.credentials.shape).strict();
  const complete = Object.keys(schema.shape).every((key) => key in changes);
  const stored = complete ? {} : plugin.unseal(await decryptSecret(env.ENCRYPTION_KEY, source.connectionCiphertext, source.id));
  const parsed = schema.safeParse({ ...stored, ...changes });
  if (!parsed.success) throw validationError(issueDetails(parsed.error.issues));
  const issue = credentialsIssue(plugin, parsed.data);
  if (issue) throw validationError([{ path: `credentials.${issue.field}`, message: issue.message }]);
  return { ...plugin.seal(parsed.data), settings: parsed.data };
}
