import type { Router } from "../../api/openapi";
import { registerCreateDestination } from "./create";
import { registerDeleteDestination } from "./delete";
import { registerDestinationFields } from "./fields";
import { registerGetDestination } from "./get";
import { registerListDestinations } from "./list";
import { registerTestDestination } from "./test";
import { registerUpdateDestination } from "./update";

/** `/api/v1/destinations`: list, create, get, update, delete, a connection test and the field description. */
export function registerDestinationRoutes(app: Router) {
  registerListDestinations(app);
  registerCreateDestination(app);
  registerGetDestination(app);
  registerUpdateDestination(app);
  registerDeleteDestination(app);
  registerTestDestination(app);
  registerDestinationFields(app);
}
