import type { Router } from "../../api/openapi";
import { registerCreateModel } from "./create";
import { registerDeleteModel } from "./delete";
import { registerGetModel } from "./get";
import { registerListModels } from "./list";
import { registerPreviewModel } from "./preview";
import { registerUpdateModel } from "./update";

/** `/api/v1/models`: list, create, get, update, delete, and preview of the first rows. */
export function registerModelRoutes(app: Router) {
  registerListModels(app);
  registerCreateModel(app);
  registerGetModel(app);
  registerUpdateModel(app);
  registerDeleteModel(app);
  registerPreviewModel(app);
}
