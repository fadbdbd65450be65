import type { TokenScope } from "../db/schema";
import type { Database } from "../db/client";

/** What the auth middleware learned about the caller. */
export interface Principal {
  workspaceId: string;
  scope: TokenScope;
  /** null for the bootstrap ADMIN_TOKEN. */
  tokenId: string | null;
  /** The token's name (the audit log's actor); "ADMIN_TOKEN" for the bootstrap token. */
  tokenName: string;
}

/** Hono environment: generated Worker bindings plus request-scoped services. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    db: Database;
    principal: Principal;
  };
}
