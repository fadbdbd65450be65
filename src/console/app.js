// @ts-check
// The web console: a build-free single page on top of /api/v1 (hash routes, no dependencies).
// This shell asks for the token, then routes each hash to its view in views/:
//   #/                          syncs list            #/archived          archived syncs
//   #/syncs/new                 create a sync         #/syncs/{id}/edit   edit a sync
//   #/syncs/{id}                a sync and its runs   #/syncs/{id}/runs/{run_id}   a run and its row errors
//   #/sources, #/models, #/destinations (and …/new, …/{id}): the catalogue, see views/catalog.js
//   #/alert-channels            alert channels
import { ApiError, token } from "./api.js";
import { errorBox, h, put } from "./dom.js";
import { enterView } from "./view-context.js";
import { isCatalogRoute, viewCatalog } from "./views/catalog.js";
import { viewAlertChannels } from "./views/alert-channels.js";
import { viewRun } from "./views/run.js";
import { viewSync } from "./views/sync.js";
import { viewSyncForm } from "./views/sync-form.js";
import { viewSyncs } from "./views/syncs.js";
import { viewToken } from "./views/token.js";

/**
 * The element `id` of index.html, checked to be a `type`.
 * @template {HTMLElement} E
 * @param {string} id
 * @param {new () => E} type
 * @returns {E}
 */
function element(id, type) {
  const el = document.getElementById(id);
  if (el instanceof type) return el;
  throw new Error(`index.html has no ${type.name} #${id}`);
}

const main = element("main", HTMLElement);
const signOut = element("sign-out", HTMLButtonElement);

/** @param {string} [problem] why the saved token was refused */
function askForToken(problem) {
  signOut.hidden = true;
  viewToken(main, problem, route);
}

/** Draws the view of the current hash. */
async function route() {
  const ctx = enterView(main);
  signOut.hidden = !token.get();
  if (!token.get()) return askForToken();
  const hash = location.hash.replace(/^#/, "") || "/";
  put(main, h("p", { class: "muted" }, "Loading…"));
  try {
    const edit = /^\/syncs\/([^/]+)\/edit$/.exec(hash);
    const run = /^\/syncs\/([^/]+)\/runs\/([^/]+)$/.exec(hash);
    const sync = /^\/syncs\/([^/]+)$/.exec(hash);
    if (hash === "/" || hash === "/syncs") await viewSyncs(ctx, false);
    else if (hash === "/archived") await viewSyncs(ctx, true);
    else if (hash === "/syncs/new") await viewSyncForm(ctx, null);
    else if (hash === "/alert-channels") await viewAlertChannels(ctx);
    else if (edit?.[1]) await viewSyncForm(ctx, edit[1]);
    else if (run?.[1] && run[2]) await viewRun(ctx, run[1], run[2]);
    else if (sync?.[1]) await viewSync(ctx, sync[1]);
    else if (isCatalogRoute(hash)) await viewCatalog(ctx, hash);
    else put(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the syncs")));
  } catch (err) {
    if (!ctx.alive()) return;
    if (err instanceof ApiError && err.status === 401) return askForToken(err.message);
    put(main, errorBox(err), h("p", {}, h("a", { href: "#/" }, "Back to the syncs")));
  }
}

window.addEventListener("hashchange", route);
signOut.addEventListener("click", () => {
  token.clear();
  route();
});
route();
