import type { Context } from "hono";
import { type AuditChange, auditEvents } from "../db/schema";
import { newId } from "../lib/ids";
import { maskConnectionString, maskCredentials } from "../lib/secrets";
import type { AppEnv } from "./env";

/**
 * The audit log's one writer: routes call {@link recordAudit} after a change succeeded, with the
 * resource as the API shows it before and after (serializers already mask secrets; a second pass
 * here masks any secret-named field a serializer missed), and the actor comes from the token.
 */

/** Fields that change by themselves or by runs, not by the request: left out of the changes. */
const NOT_CHANGES = new Set(["updated_at", "last_run", "last_used_at", "rate_limit_observed", "next_run_at"]);
/** Field names that hold secrets. */
const SECRET_NAME = /secret|password|token$|api_key|access_token|refresh_token|private_key|routing_key|authorization|connection_string/i;

/** An API shape of a resource: a JSON object. */
type Shape = Record<string, unknown>;

interface AuditEntry {
  action: string;
  resourceType: string;
  resourceId: string;
  before?: Shape | null;
  after?: Shape | null;
  /** Fields whose secret was replaced: their masked values may look the same before and after. */
  secretsChanged?: readonly string[];
  /** The actor when no token made the request (a trigger webhook). */
  actor?: { tokenId: string | null; name: string; workspaceId: string };
}

/** Masks a secret-named string that is not masked yet; recurses into objects and arrays. */
export function maskSecrets(value: unknown, name = ""): unknown {
  if (typeof value === "string") {
    if (!SECRET_NAME.test(name) || value.includes("****")) return value;
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? maskConnectionString(value) : maskCredentials({ v: value }).v;
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, name));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]));
  }
  return value;
}

/** The fields that differ between two API shapes (all of one side's for a create or delete), masked. */
export function auditChanges(
  before: Shape | null,
  after: Shape | null,
  secretsChanged: readonly string[] = [],
): Record<string, AuditChange> {
  const changes: Record<string, AuditChange> = {};
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const key of keys) {
    if (NOT_CHANGES.has(key) || key === "id") continue;
    const b = before ? maskSecrets(before[key] ?? null, key) : null;
    const a = after ? maskSecrets(after[key] ?? null, key) : null;
    const secret = secretsChanged.includes(key);
    if (!secret && JSON.stringify(b) === JSON.stringify(a)) continue;
    changes[key] = secret ? { before: b, after: a, secret_changed: true } : { before: b, after: a };
  }
  return changes;
}

/** Records one action on a resource, by the request's token (or `entry.actor`). */
export async function recordAudit(c: Context<AppEnv>, entry: AuditEntry): Promise<void> {
  const principal = c.get("principal");
  const actor =
    entry.actor ??
    (principal
      ? { tokenId: principal.tokenId, name: principal.tokenName, workspaceId: principal.workspaceId }
      : { tokenId: null, name: "unknown", workspaceId: "" });
  await c.var.db.insert(auditEvents).values({
    id: newId("audit"),
    workspaceId: actor.workspaceId,
    actorTokenId: actor.tokenId,
    actorName: actor.name,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: entry.resourceId,
    changes: auditChanges(entry.before ?? null, entry.after ?? null, entry.secretsChanged),
    requestId: c.var.requestId,
    createdAt: new Date().toISOString(),
  });
}
