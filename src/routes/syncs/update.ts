import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { syncs } from "../../db/schema";
import { idParam, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { rulesFromBody } from "../../alerts/rules";
import {
  checkAlertChannels,
  checkSyncReferences,
  illegalTransition,
  loadSync,
  syncObject,
  syncResponse,
  SyncSchema,
  UpdateSyncBody,
} from "./schema";

const route = createRoute({
  operationId: "updateSync",
  tags: ["syncs"],
  method: "put",
  path: "/api/v1/syncs/{id}",
  request: { params: z.object({ id: idParam("syn") }), body: jsonBody(UpdateSyncBody) },
  responses: { 200: jsonResponse(SyncSchema, "The updated sync; a new schedule is re-armed from now."), ...openApiErrorResponses },
});

export function registerUpdateSync(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const { workspaceId } = c.var.principal;
    const row = await loadSync(c.var.db, workspaceId, id);
    const origin = new URL(c.req.url).origin;
    const before = await syncResponse(c.var.db, workspaceId, id, origin);
    if (row.status === "archived") throw illegalTransition("update", row.status);
    const merged = {
      model_id: body.model_id ?? row.modelId,
      destination_id: body.destination_id ?? row.destinationId,
      field_mappings: body.field_mappings ?? row.fieldMappings,
      mode: body.mode ?? row.mode,
    };
    await checkSyncReferences(c.var.db, c.env, workspaceId, merged);
    await checkAlertChannels(c.var.db, workspaceId, body.alerts?.channel_ids);
    await c.var.db
      .update(syncs)
      .set({
        ...(body.name === undefined ? {} : { name: body.name }),
        mode: merged.mode,
        ...(body.schedule === undefined ? {} : { schedule: body.schedule }),
        ...(body.mass_delete_threshold_pct === undefined ? {} : { massDeleteThresholdPct: body.mass_delete_threshold_pct }),
        ...(body.max_run_minutes === undefined ? {} : { maxRunMinutes: body.max_run_minutes }),
        ...(body.send === undefined ? {} : { send: body.send }),
        ...(body.null_values === undefined ? {} : { nullValues: body.null_values }),
        ...(body.alerts === undefined ? {} : { alerts: rulesFromBody(body.alerts) ?? null }),
        modelId: merged.model_id,
        destinationId: merged.destination_id,
        fieldMappings: merged.field_mappings,
        updatedAt: new Date().toISOString(),
      })
      .where(eq(syncs.id, id));
    if (body.schedule) await syncObject(c.env, id).reschedule(body.schedule);
    const after = await syncResponse(c.var.db, workspaceId, id, origin);
    await recordAudit(c, { action: "update", resourceType: "sync", resourceId: id, before, after });
    return c.json(after, 200);
  });
}
