import type { Router } from "../../api/openapi";

export function registerSyncRoutes(_app: Router) {}
