import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { sources } from "../../db/schema";
import { notFound } from "../../api/errors";
import { Name } from "../../api/openapi";
import { SOURCE_TYPES, SOURCES, type SourceType } from "../../sources/registry";
import type { SourcePlugin } from "../../sources/source";

export const SourceSchema = z
  .object({
    id: z.string().openapi({ example: "src_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    name: z.string(),
    type: z.enum(SOURCE_TYPES),
    connection_string: z.string().openapi({ description: "Masked: the password is never returned." }),
    config: z.record(z.string(), z.unknown()).openapi({ description: "The type's non-secret settings (`{}` when all are secret)." }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Source");

type NonEmpty<T> = [T, ...T[]];
type Plugin = (typeof SOURCES)[number];

/**
 * Whether a type's body nests its settings as `config` and `credentials` (ClickHouse and the other
 * HTTP warehouses) or has them at the top level (postgres, redshift, mysql: a `connection_string`, all secret).
 */
function nested(plugin: Plugin): boolean {
  return Object.keys(plugin.config.shape).length > 0;
}

/** The body that creates a source of one type: a name, the type, and the type's settings. */
function createBody(plugin: Plugin) {
  // With one type, `type` is an enum: a bad body then reports every field, not just `type`.
  const type = (SOURCES as readonly Plugin[]).length === 1 ? z.enum(SOURCE_TYPES) : z.literal(plugin.type);
  if (nested(plugin)) {
    const credentials = plugin.credentials
      .strict()
      .superRefine((value, ctx) => {
        const issue = credentialsIssue(plugin, value);
        if (issue) ctx.addIssue({ code: "custom", path: [issue.field], message: issue.message });
      })
      .openapi(SECRET);
    return z.strictObject({ name: Name, type, config: plugin.config.strict(), credentials });
  }
  return z.strictObject({ name: Name, type, ...plugin.config.shape, ...secretFields(plugin.credentials.shape) });
}

/** OpenAPI's mark of what a request may send but an answer never returns: the console draws such fields as passwords. */
const SECRET = { writeOnly: true } as const;

/** The fields of a credentials shape, each marked {@link SECRET} (for types that take them at the top level). */
function secretFields<S extends z.ZodRawShape>(shape: S): S {
  const marked: Record<string, z.core.$ZodType> = { ...shape };
  for (const [key, field] of Object.entries(shape)) marked[key] = (field as z.ZodType).openapi(SECRET);
  return marked as S;
}

/** What the plug-in finds wrong with credentials taken together (see SourcePlugin.credentialsIssue). */
export function credentialsIssue(
  plugin: SourcePlugin,
  credentials: Record<string, unknown>,
): { field: string; message: string } | undefined {
  return plugin.credentialsIssue?.(credentials);
}

/** The body that updates a source of one type: any of its name and settings. */
function updateBody(plugin: Plugin) {
  if (nested(plugin))
    return z.strictObject({
      name: Name.optional(),
      config: plugin.config.partial().strict().optional(),
      credentials: plugin.credentials.partial().strict().openapi(SECRET).optional(),
    });
  return z.strictObject({ name: Name.optional(), ...plugin.config.partial().shape, ...secretFields(plugin.credentials.partial().shape) });
}

/**
 * The issues of a create body that failed validation. Zod stops at an unknown `type`; so that the
 * answer still names every bad field, the body is also checked as the type whose fields it uses most.
 */
export function createIssues(raw: unknown, issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const body = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : undefined;
  if (!body || (SOURCE_TYPES as readonly unknown[]).includes(body.type)) return [...issues];
  const checked = createBody(likelyPlugin(body)).safeParse({ ...body, type: likelyPlugin(body).type });
  const more = checked.success ? [] : checked.error.issues.filter((issue) => issue.path[0] !== "type");
  return [...issues, ...more];
}

/**
 * The issues of an update body that failed validation: a union of every type's body only says
 * "Invalid input", so the body is checked as the type whose fields it uses most (the route checks
 * it against the source's own type afterwards).
 */
export function updateIssues(raw: unknown, issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const body = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : undefined;
  if (!body) return [...issues];
  const checked = updateBody(likelyPlugin(body)).safeParse(body);
  return checked.success ? [...issues] : checked.error.issues;
}

/** The plug-in whose body fields a request body uses most (the first plug-in on a tie). */
function likelyPlugin(body: Record<string, unknown>): Plugin {
  const keys = Object.keys(body);
  const fieldsOf = (plugin: Plugin) =>
    nested(plugin) ? ["config", "credentials"] : [...Object.keys(plugin.config.shape), ...Object.keys(plugin.credentials.shape)];
  const overlap = (plugin: Plugin) => fieldsOf(plugin).filter((f) => keys.includes(f)).length;
  return SOURCES.reduce<Plugin>((best, plugin) => (overlap(plugin) > overlap(best) ? plugin : best), SOURCES[0]);
}

/** A body's settings as the plug-in takes them (config and credentials fields together). */
export function bodySettings(body: Record<string, unknown>): Record<string, unknown> {
  const { config, credentials, ...flat } = body;
  const part = (v: unknown) => (typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {});
  return { ...flat, ...part(config), ...part(credentials) };
}

/** The config fields of a type's settings, as the `config` column stores them. */
export function storedConfig(type: SourceRow["type"], settings: Record<string, unknown>): string {
  const plugin = SOURCES.find((p) => p.type === type);
  const keys = plugin ? Object.keys(plugin.config.shape) : [];
  return JSON.stringify(Object.fromEntries(keys.filter((k) => k in settings).map((k) => [k, settings[k]])));
}

/** One of each type's create body, told apart by `type` (see {@link SOURCES}). */
const [firstCreate, ...moreCreate] = SOURCES.map(createBody) as NonEmpty<ReturnType<typeof createBody>>;
export const CreateSourceBody = (moreCreate.length === 0
  ? firstCreate
  : z.discriminatedUnion("type", [firstCreate, ...moreCreate])
).openapi("CreateSource") as unknown as z.ZodType<CreateSourceFields>;

/**
 * What a valid create body holds, as the routes read it. The union of every type's exact body is
 * too complex for TypeScript to infer with many types; each plug-in's schema checked the fields.
 */
interface CreateSourceFields {
  name: string;
  type: SourceType;
  [field: string]: unknown;
}

/** One of each type's update body; the route checks it against the source's own type. */
const [firstUpdate, ...moreUpdate] = SOURCES.map(updateBody) as NonEmpty<ReturnType<typeof updateBody>>;
export const UpdateSourceBody = (moreUpdate.length === 0 ? firstUpdate : z.union([firstUpdate, ...moreUpdate])).openapi(
  "UpdateSource",
) as unknown as z.ZodType<{ name?: string; [field: string]: unknown }>;

export type SourceRow = typeof sources.$inferSelect;

export function serializeSource(row: SourceRow): z.infer<typeof SourceSchema> {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    connection_string: row.connectionMasked,
    config: JSON.parse(row.config) as Record<string, unknown>,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** The source `id` of the workspace, or a 404. */
export async function loadSource(db: Database, workspaceId: string, id: string): Promise<SourceRow> {
  const row = await db.query.sources.findFirst({ where: and(eq(sources.id, id), eq(sources.workspaceId, workspaceId)) });
  if (!row) throw notFound("source", id);
  return row;
}
