import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { apiTokens, TOKEN_SCOPES } from "../../db/schema";
import { notFound } from "../../api/errors";
import { Name } from "../../api/openapi";

/** A token's metadata as the API returns it: never the secret or its hash. */
export const TokenSchema = z
  .object({
    id: z.string().openapi({ example: "tok_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    name: z.string(),
    scope: z.enum(TOKEN_SCOPES),
    prefix: z.string().openapi({ description: "First characters of the token, to tell tokens apart.", example: "retl_Xb3k9Qz" }),
    created_at: z.string(),
    last_used_at: z.string().nullable().openapi({ description: "Refreshed at most once a minute." }),
    revoked_at: z.string().nullable(),
  })
  .openapi("Token");

/** The create response: the metadata plus the secret, this once. */
export const CreatedTokenSchema = TokenSchema.extend({
  token: z.string().openapi({ description: "The secret. Shown only in this response; store it now." }),
}).openapi("CreatedToken");

/** POST body; unknown fields are refused. */
export const CreateTokenBody = z
  .strictObject({
    name: Name,
    scope: z.enum(TOKEN_SCOPES).openapi({ description: "read: GET only; write: also changes; admin: also token management." }),
  })
  .openapi("CreateToken");

/** A row of the api_tokens table. */
export type TokenRow = typeof apiTokens.$inferSelect;

/** The token's metadata; the secret and its hash never leave the database. */
export function serializeToken(row: TokenRow): z.infer<typeof TokenSchema> {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    prefix: row.prefix,
    created_at: row.createdAt,
    last_used_at: row.lastUsedAt,
    revoked_at: row.revokedAt,
  };
}

/** The token `id` of the workspace, or a 404. */
export async function loadToken(db: Database, workspaceId: string, id: string): Promise<TokenRow> {
  const row = await db.query.apiTokens.findFirst({ where: and(eq(apiTokens.id, id), eq(apiTokens.workspaceId, workspaceId)) });
  if (!row) throw notFound("token", id);
  return row;
}
