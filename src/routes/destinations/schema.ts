import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { ApiError, notFound, validationError } from "../../api/errors";
import { Name } from "../../api/openapi";
import type { Database } from "../../db/client";
import { destinations, syncs } from "../../db/schema";
import {
  DESTINATION_TYPES,
  DESTINATIONS,
  type DestinationConfig,
  type DestinationCredentials,
  type DestinationType,
  destinationLimits,
  privateAddressProblems,
} from "../../destinations/registry";

/** A destination as the API returns it: config in full, credentials masked. */
export const DestinationSchema = z
  .object({
    id: z.string().openapi({ example: "dst_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    name: z.string(),
    type: z.enum(DESTINATION_TYPES),
    config: z.record(z.string(), z.unknown()).openapi({ description: "The type's settings, defaults filled in." }),
    credentials: z
      .record(z.string(), z.string())
      .nullable()
      .openapi({
        description: "Which credentials are set, each value masked; null when there are none. Secrets are never returned.",
        example: { access_token: "****f00d" },
      }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Destination");

/** One destination with what its limiter learned: what GET, POST and PUT of one destination return (the list leaves it out). */
export const DestinationDetailSchema = DestinationSchema.extend({
  rate_limit_observed: z
    .object({
      requests_per_second: z
        .number()
        .openapi({ description: "The rate the destination's answers taught (429s and its rate-limit headers)." }),
      updated_at: z.string(),
    })
    .nullable()
    .openapi({
      description:
        "The request rate the limiter learned from the destination's answers; never above the configured (or default) rate. Null until the destination throttled a request or advertised a limit.",
    }),
}).openapi("DestinationDetail");

type AnyDestination = (typeof DESTINATIONS)[number];

/** What a create body is built from: a plug-in's type and schemas. */
interface BodyParts<
  T extends DestinationType = DestinationType,
  Config extends z.ZodType = z.ZodType,
  Credentials extends z.ZodType = z.ZodType,
> {
  type: T;
  config: Config;
  credentials: Credentials;
  credentialsRequired: boolean;
}

// One body per type, so the OpenAPI document shows each type's fields and errors name e.g. "config.url".
const createBodyOf = <T extends DestinationType, Config extends z.ZodType, Credentials extends z.ZodType>(
  plugin: BodyParts<T, Config, Credentials>,
) =>
  z.strictObject({
    name: Name,
    type: z.literal(plugin.type),
    config: plugin.config,
    credentials: plugin.credentialsRequired ? plugin.credentials : plugin.credentials.nullable().optional(),
  });

type CreateBodyOf<P extends AnyDestination> = ReturnType<typeof createBodyOf<P["type"], P["config"], P["credentials"]>>;

/** One create body per registered type, as a tuple (what a discriminated union takes). */
function createBodies<const Ps extends readonly AnyDestination[]>(plugins: Ps) {
  // map() loses the tuple; each element is still the body of the plug-in at its index.
  const bodies = plugins.map((plugin: BodyParts) => createBodyOf(plugin));
  return bodies as { -readonly [K in keyof Ps]: CreateBodyOf<Ps[K]> };
}

/** POST body: `type` selects the config and credentials schemas. */
export const CreateDestinationBody = z.discriminatedUnion("type", createBodies(DESTINATIONS)).openapi("CreateDestination");

/** PUT body; config and credentials are checked against the stored type by the handler. */
export const UpdateDestinationBody = z
  .strictObject({
    name: Name.optional(),
    type: z.enum(DESTINATION_TYPES).optional().openapi({ description: "Immutable; accepted only when unchanged." }),
    config: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "Replaces the whole config; validated against the destination's type." }),
    credentials: z
      .record(z.string(), z.unknown())
      .nullable()
      .optional()
      .openapi({ description: "Replaces all credentials; null removes them where the type allows none." }),
  })
  .openapi("UpdateDestination");

/** A row of the destinations table. */
export type DestinationRow = typeof destinations.$inferSelect;

/** The API shape of a destination row; the ciphertext never leaves. */
export function serializeDestination(row: DestinationRow): z.infer<typeof DestinationSchema> {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    config: row.config,
    credentials: row.credentialsMasked ?? null,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** The destination `id` of the workspace, or a 404. */
export async function loadDestination(db: Database, workspaceId: string, id: string): Promise<DestinationRow> {
  const row = await db.query.destinations.findFirst({
    where: and(eq(destinations.id, id), eq(destinations.workspaceId, workspaceId)),
  });
  if (!row) throw notFound("destination", id);
  return row;
}

/** Refuses literal private addresses (each type's hosts()) unless the deployment allows them (local development, tests). */
export function checkReachable<T extends DestinationType>(
  env: Pick<Env, "ALLOW_PRIVATE_DESTINATIONS">,
  type: T,
  config: DestinationConfig<T>,
  credentials: DestinationCredentials<T> | null,
): void {
  if (env.ALLOW_PRIVATE_DESTINATIONS === "true") return;
  const problems = privateAddressProblems(type, config, credentials);
  if (problems.length > 0) throw validationError(problems);
}

/** A 409 when a sync still writes to the destination. */
export async function assertUnused(db: Database, id: string): Promise<void> {
  const used = await db.query.syncs.findFirst({ where: eq(syncs.destinationId, id), columns: { id: true } });
  if (used) {
    throw new ApiError(
      "conflict",
      `destination ${id} is used by sync ${used.id}; delete that sync permanently (DELETE /api/v1/syncs/${used.id}?permanent=true) first`,
      { sync_id: used.id },
    );
  }
}

/** What the destination's limiter learned about its rate (see durable-objects/destination-limiter.ts). */
export async function observedRateOf(
  env: Env,
  row: DestinationRow,
): Promise<z.infer<typeof DestinationDetailSchema>["rate_limit_observed"]> {
  const own = row.config.rate_limit;
  const configured =
    typeof own === "object" && own !== null && "requests_per_second" in own && typeof own.requests_per_second === "number"
      ? own.requests_per_second
      : destinationLimits(row.type).defaultRateLimit.requestsPerSecond;
  return env.DESTINATION_LIMITER.get(env.DESTINATION_LIMITER.idFromName(row.id)).observed(configured);
}
