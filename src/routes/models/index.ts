import type { Router } from "../../api/openapi";

export function registerModelRoutes(_app: Router) {}
