import type { Router } from "../../api/openapi";
import { registerCancelRun } from "./cancel-run";
import { registerCreateSync } from "./create";
import { registerDeleteSync } from "./delete";
import { registerGetSync } from "./get";
import { registerLifecycleActions } from "./lifecycle";
import { registerListSyncs } from "./list";
import { registerRunOperationRoutes } from "./operations";
import { registerRotateTriggerSecret } from "./rotate-trigger-secret";
import { registerRunRoutes } from "./runs";
import { registerTriggerSync } from "./trigger";
import { registerUpdateSync } from "./update";

export function registerSyncRoutes(app: Router) {
  registerListSyncs(app);
  registerCreateSync(app);
  registerGetSync(app);
  registerUpdateSync(app);
  registerDeleteSync(app);
  registerTriggerSync(app);
  registerLifecycleActions(app);
  registerRotateTriggerSecret(app);
  registerRunRoutes(app);
  registerCancelRun(app);
  registerRunOperationRoutes(app);
}
