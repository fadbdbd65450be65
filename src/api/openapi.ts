import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "./env";
import { validationError, type ErrorDetail } from "./errors";

/**
 * Zod issues as error details. An unknown key is reported at its own path ("config.extra"), not at
 * its parent object's, so every detail names the offending field.
 */
export function issueDetails(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): ErrorDetail[] {
  return issues.flatMap((issue) => {
    const at = [...prefix, ...issue.path].map(String);
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ path: [...at, key].join("."), message: "unknown field" }));
    }
    return [{ path: at.join("."), message: issue.message }];
  });
}

/** A router whose zod validation failures become 400s that name every bad field. */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(issueDetails(result.error.issues));
    },
  });
}
export type Router = ReturnType<typeof newRouter>;

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "validation_failed" }),
      message: z.string(),
      details: z.unknown().optional(),
      request_id: z.string(),
    }),
  })
  .openapi("Error");

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorSchema } },
});

/** The error responses every operation may give. */
export const openApiErrorResponses = {
  400: errorResponse("The request is malformed; `details` names each bad field."),
  401: errorResponse("Missing, invalid or revoked token."),
  403: errorResponse("The token's scope does not allow this."),
  404: errorResponse("No such object in this workspace."),
  409: errorResponse("Conflicts with the object's current state."),
  413: errorResponse("Body too large."),
  500: errorResponse("Unexpected failure; quote the request_id."),
} as const;

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** `?limit=&cursor=` on every list. */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: "Page size, 1-200." }),
  cursor: z.string().max(64).optional().openapi({ description: "next_cursor of the previous page." }),
});

export const listOf = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() }).openapi(name);

/** A path id with its prefix checked, so a malformed id is a 404 like any unknown one. */
export const idParam = (prefix: string) =>
  z
    .string()
    .max(64)
    .openapi({ param: { name: "id", in: "path" }, example: `${prefix}_01jd0000000000000000000000` });

/** Page of rows fetched with limit+1: returns the page and the cursor for the next one. */
export function page<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? last.id : null };
}

/** Bounded name strings shared by every resource. */
export const Name = z.string().trim().min(1).max(200);
