import type { Router } from "../../api/openapi";

export function registerHookRoutes(_app: Router) {}
