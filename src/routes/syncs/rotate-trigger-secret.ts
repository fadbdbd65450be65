import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { syncs } from "../../db/schema";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { randomSecret } from "../../lib/crypto";
import { encryptSecret } from "../../lib/secrets";
import { loadSync, triggerUrl } from "./schema";

const route = createRoute({
  operationId: "rotateSyncTriggerSecret",
  tags: ["syncs"],
  method: "post",
  path: "/api/v1/syncs/{id}/trigger-secret",
  description: "Replaces the secret of the sync's trigger webhook; the old URL stops working at once.",
  request: { params: z.object({ id: idParam("syn") }) },
  responses: {
    200: jsonResponse(
      z.object({ trigger_url: z.string(), secret: z.string() }).openapi("TriggerSecret"),
      "The new trigger URL and secret, shown this once. Sign bodies with the secret for the HMAC form.",
    ),
    ...openApiErrorResponses,
  },
});

export function registerRotateTriggerSecret(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    await loadSync(c.var.db, c.var.principal.workspaceId, id);
    const secret = randomSecret(24);
    await c.var.db
      .update(syncs)
      .set({ triggerSecretCiphertext: await encryptSecret(c.env.ENCRYPTION_KEY, secret, id), updatedAt: new Date().toISOString() })
      .where(eq(syncs.id, id));
    const origin = new URL(c.req.url).origin;
    // Both sides masked: the log says the secret changed, never what it is.
    const masked = { trigger_url: triggerUrl(origin, id) };
    await recordAudit(c, {
      action: "rotate_trigger_secret",
      resourceType: "sync",
      resourceId: id,
      before: masked,
      after: masked,
      secretsChanged: ["trigger_url"],
    });
    return c.json({ trigger_url: triggerUrl(origin, id, secret), secret }, 200);
  });
}
