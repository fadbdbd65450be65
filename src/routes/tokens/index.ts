import type { Router } from "../../api/openapi";
import { registerCreateToken } from "./create";
import { registerGetToken } from "./get";
import { registerListTokens } from "./list";
import { registerRevokeToken } from "./revoke";

/** `/api/v1/tokens` (admin scope, enforced in app.ts): create, list, get and revoke. */
export function registerTokenRoutes(app: Router) {
  registerListTokens(app);
  registerCreateToken(app);
  registerGetToken(app);
  registerRevokeToken(app);
}
