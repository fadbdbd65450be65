import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamps } from "./columns";
import { workspaces } from "./workspaces";

export const TOKEN_SCOPES = ["read", "write", "admin"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** Bearer tokens, stored only as SHA-256 hashes; the plaintext is shown once at creation. */
export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    scope: text("scope", { enum: TOKEN_SCOPES }).notNull(),
    tokenHash: text("token_hash").notNull().unique(),
    /** First characters of the token, so a user can tell tokens apart. */
    prefix: text("prefix").notNull(),
    lastUsedAt: text("last_used_at"),
    revokedAt: text("revoked_at"),
    ...timestamps,
  },
  (t) => [index("api_tokens_workspace_idx").on(t.workspaceId, t.id)],
);
