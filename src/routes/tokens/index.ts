import type { Router } from "../../api/openapi";

export function registerTokenRoutes(_app: Router) {}
