// @ts-check
// The catalogue's routes: what syncs are built from.
//   #/sources  #/sources/new  #/sources/{id}            #/models  #/models/new  #/models/{id}
//   #/destinations  #/destinations/new  #/destinations/{id}
/** @import { ViewContext } from "../view-context.js" */
import { viewConnectorForm } from "./connector-form.js";
import { DESTINATIONS, SOURCES, viewConnectors } from "./connectors.js";
import { viewModelForm, viewModels } from "./models.js";

const ROUTE = /^\/(sources|models|destinations)(?:\/([^/]+))?$/;

/** Whether `hash` is one of the catalogue's pages. @param {string} hash */
export const isCatalogRoute = (hash) => ROUTE.test(hash);

/**
 * Draws the catalogue page of `hash` (see {@link isCatalogRoute}).
 * @param {ViewContext} ctx
 * @param {string} hash
 */
export async function viewCatalog(ctx, hash) {
  const [, what, rest] = ROUTE.exec(hash) ?? [];
  const id = rest === undefined || rest === "new" ? null : rest;
  if (what === "models") return rest === undefined ? viewModels(ctx) : viewModelForm(ctx, id);
  const kind = what === "sources" ? SOURCES : DESTINATIONS;
  return rest === undefined ? viewConnectors(ctx, kind) : viewConnectorForm(ctx, kind, id);
}
