import type { Context } from "hono";
import { recordAudit } from "../../api/audit";
import type { AppEnv } from "../../api/env";
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { syncs } from "../../db/schema";
import { ApiError } from "../../api/errors";
import { jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import type { Database } from "../../db/client";
import { hmacSha256Hex, timingSafeEqual } from "../../lib/crypto";
import { decryptSecret } from "../../lib/secrets";
import { syncObject } from "../syncs/schema";
import { serializeTriggeredRun, TriggerResponse } from "../syncs/run-schema";

/** Signed requests older or newer than this are refused (replay window). */
const MAX_SKEW_SECONDS = 300;

const Params = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const secretRoute = createRoute({
  operationId: "triggerSyncBySecretUrl",
  tags: ["hooks"],
  method: "post",
  path: "/api/v1/hooks/syncs/{id}/{secret}",
  security: [],
  description:
    "Starts a run (trigger `webhook`) for dbt, CI or Airflow, authenticated by the secret in the URL. " +
    "With a run in flight, the follow-up run is queued (as for POST /api/v1/syncs/{id}/trigger) and `in_flight` names the run in flight, its phase and age.",
  request: {
    params: Params.extend({
      secret: z
        .string()
        .max(128)
        .openapi({ param: { name: "secret", in: "path" } }),
    }),
  },
  responses: { 202: jsonResponse(TriggerResponse, "The run that will carry out this trigger."), ...openApiErrorResponses },
});

const signedRoute = createRoute({
  operationId: "triggerSyncBySignature",
  tags: ["hooks"],
  method: "post",
  path: "/api/v1/hooks/syncs/{id}",
  security: [],
  description:
    'Starts a run authenticated by `X-Timestamp: <unix seconds>` and `X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" under the trigger secret>`; timestamps more than 5 minutes away are refused, and so is a signed request sent a second time (409). ' +
    "With a run in flight, the answer's `in_flight` names it, its phase and age.",
  request: { params: Params },
  responses: { 202: jsonResponse(TriggerResponse, "The run that will carry out this trigger."), ...openApiErrorResponses },
});

const refused = () => new ApiError("unauthorized", "invalid trigger secret or signature");

/** The sync's trigger secret and workspace. */
async function triggerSecretOf(db: Database, env: Env, id: string): Promise<{ secret: string; workspaceId: string }> {
  const row = await db.query.syncs.findFirst({ where: eq(syncs.id, id), columns: { triggerSecretCiphertext: true, workspaceId: true } });
  // Unknown sync and wrong secret answer alike, so the hook does not reveal which syncs exist.
  if (!row) throw refused();
  return { secret: await decryptSecret(env.ENCRYPTION_KEY, row.triggerSecretCiphertext, id), workspaceId: row.workspaceId };
}

async function startWebhookRun(c: Context<AppEnv>, id: string, workspaceId: string) {
  const result = await syncObject(c.env, id).trigger("webhook", {});
  if (!result.ok) throw new ApiError("conflict", `cannot run a sync whose status is "${result.status}"`, { status: result.status });
  // No token made this request: the audit log names the trigger webhook as the actor.
  await recordAudit(c, {
    action: "trigger",
    resourceType: "sync",
    resourceId: id,
    after: { run_id: result.run.id, options: {} },
    actor: { tokenId: null, name: "trigger webhook", workspaceId },
  });
  // A caller whose trigger lands behind a stuck run learns which run, in which phase, since when.
  return serializeTriggeredRun(result.run, result.in_flight);
}

/** Trigger webhooks: a secret URL, or an HMAC-signed request to the bare URL. */
export function registerHookRoutes(app: Router) {
  app.openapi(secretRoute, async (c) => {
    const { id, secret } = c.req.valid("param");
    const expected = await triggerSecretOf(c.var.db, c.env, id);
    if (!timingSafeEqual(secret, expected.secret)) throw refused();
    return c.json(await startWebhookRun(c, id, expected.workspaceId), 202);
  });

  app.openapi(signedRoute, async (c) => {
    const { id } = c.req.valid("param");
    const timestamp = c.req.header("x-timestamp") ?? "";
    const signature = c.req.header("x-signature") ?? "";
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) {
      throw new ApiError("unauthorized", "X-Timestamp missing or more than 5 minutes away from now");
    }
    const expected = await triggerSecretOf(c.var.db, c.env, id);
    const mac = await hmacSha256Hex(expected.secret, `${timestamp}.${await c.req.text()}`);
    if (!timingSafeEqual(signature, `sha256=${mac}`)) throw refused();
    // Each signed request starts one run: a copy sent again inside the window is refused.
    const expiresAt = (Number(timestamp) + MAX_SKEW_SECONDS + 1) * 1000;
    if (!(await syncObject(c.env, id).claimSignature(mac, expiresAt))) {
      throw new ApiError("conflict", "this signed request was already used; sign each trigger with a new X-Timestamp");
    }
    return c.json(await startWebhookRun(c, id, expected.workspaceId), 202);
  });
}
