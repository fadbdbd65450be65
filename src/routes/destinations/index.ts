import type { Router } from "../../api/openapi";

export function registerDestinationRoutes(_app: Router) {}
