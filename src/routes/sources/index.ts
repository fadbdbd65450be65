import type { Router } from "../../api/openapi";
import { registerCreateSource } from "./create";
import { registerDeleteSource } from "./delete";
import { registerGetSource } from "./get";
import { registerListSources } from "./list";
import { registerTestSource } from "./test";
import { registerUpdateSource } from "./update";

export function registerSourceRoutes(app: Router) {
  registerListSources(app);
  registerCreateSource(app);
  registerGetSource(app);
  registerUpdateSource(app);
  registerDeleteSource(app);
  registerTestSource(app);
}
