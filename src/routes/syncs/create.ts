import { createRoute } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { syncs } from "../../db/schema";
import { jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { newId } from "../../lib/ids";
import { DEFAULT_MAX_RUN_MINUTES } from "../../run/driver";
import { randomSecret } from "../../lib/crypto";
import { encryptSecret } from "../../lib/secrets";
import { rulesFromBody } from "../../alerts/rules";
import { checkAlertChannels, checkSyncReferences, CreateSyncBody, syncObject, syncResponse, SyncSchema, triggerUrl } from "./schema";

const route = createRoute({
  operationId: "createSync",
  tags: ["syncs"],
  method: "post",
  path: "/api/v1/syncs",
  request: { body: jsonBody(CreateSyncBody) },
  responses: {
    201: jsonResponse(SyncSchema, "The sync; `trigger_url` carries its secret this once. Its schedule is armed unless created paused."),
    ...openApiErrorResponses,
  },
});

export function registerCreateSync(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const { workspaceId } = c.var.principal;
    await checkSyncReferences(c.var.db, c.env, workspaceId, body);
    await checkAlertChannels(c.var.db, workspaceId, body.alerts?.channel_ids);
    const id = newId("sync");
    const secret = randomSecret(24);
    const now = new Date().toISOString();
    const status = body.paused ? "paused" : "created";
    await c.var.db.insert(syncs).values({
      id,
      workspaceId,
      name: body.name,
      modelId: body.model_id,
      destinationId: body.destination_id,
      mode: body.mode,
      schedule: body.schedule,
      fieldMappings: body.field_mappings,
      massDeleteThresholdPct: body.mass_delete_threshold_pct ?? 50,
      maxRunMinutes: body.max_run_minutes ?? DEFAULT_MAX_RUN_MINUTES,
      send: body.send ?? "all_fields",
      nullValues: body.null_values ?? "send",
      alerts: rulesFromBody(body.alerts) ?? null,
      status,
      triggerSecretCiphertext: await encryptSecret(c.env.ENCRYPTION_KEY, secret, id),
      createdAt: now,
      updatedAt: now,
    });
    try {
      await syncObject(c.env, id).setup({ syncId: id, workspaceId, schedule: body.schedule, status });
    } catch (err) {
      // Without its object the sync could never run: do not leave it half-created.
      await c.var.db.delete(syncs).where(eq(syncs.id, id));
      throw err;
    }
    const origin = new URL(c.req.url).origin;
    const created = await syncResponse(c.var.db, workspaceId, id, origin, secret);
    // The log keeps the trigger URL without its secret.
    await recordAudit(c, {
      action: "create",
      resourceType: "sync",
      resourceId: id,
      after: { ...created, trigger_url: triggerUrl(origin, id) },
    });
    return c.json(created, 201);
  });
}
