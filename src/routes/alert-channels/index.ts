import type { Router } from "../../api/openapi";
import { registerCreateAlertChannel } from "./create";
import { registerDeleteAlertChannel } from "./delete";
import { registerGetAlertChannel } from "./get";
import { registerListAlertChannels } from "./list";
import { registerTestAlertChannel } from "./test";
import { registerUpdateAlertChannel } from "./update";

/** `/api/v1/alert-channels`: list, create, get, update, delete, and a test alert. */
export function registerAlertChannelRoutes(app: Router) {
  registerListAlertChannels(app);
  registerCreateAlertChannel(app);
  registerGetAlertChannel(app);
  registerUpdateAlertChannel(app);
  registerDeleteAlertChannel(app);
  registerTestAlertChannel(app);
}
