// @ts-check
// #/ and #/archived: the workspace's syncs with status, schedule, last and next run; polled.
/** @import { Destination, Model, Sync } from "../types.js" */
/** @import { ViewContext } from "../view-context.js" */
import { listDestinations, listModels, listSyncs } from "../api.js";
import { badge, errorBox, h, put, timeCell } from "../dom.js";
import { count, runProgress, scheduleInWords } from "../format.js";
import { isFinal } from "../vocabulary.js";

/**
 * id → model and id → destination of the workspace, for labels.
 * @returns {Promise<{ models: Map<string, Model>, destinations: Map<string, Destination> }>}
 */
async function catalogue() {
  const [models, destinations] = await Promise.all([listModels(), listDestinations()]);
  return {
    models: new Map(models.map((m) => [m.id, m])),
    destinations: new Map(destinations.map((d) => [d.id, d])),
  };
}

/** The last run's status, when, and its counts (or progress while it runs). @param {Sync} sync */
function lastRunCell(sync) {
  const run = sync.last_run;
  if (!run) return h("span", { class: "muted" }, "never run");
  const counts =
    isFinal(run.status) && run.options?.dry_run
      ? h("span", { class: "muted" }, " dry run, nothing sent")
      : isFinal(run.status)
        ? h(
            "span",
            { class: "muted" },
            ` ${count(run.rows_created)} created · ${count(run.rows_updated)} updated · ${count(run.rows_deleted)} deleted${run.rows_failed ? ` · ${count(run.rows_failed)} failed` : ""}`,
          )
        : h("span", { class: "muted" }, ` ${runProgress(run).label}`);
  return h("span", {}, badge(run.status), " ", timeCell(run.finished_at ?? run.started_at ?? run.created_at), h("br"), counts);
}

/**
 * The syncs list, 50 at a time.
 * @param {ViewContext} ctx
 * @param {boolean} archived archived syncs instead of the current ones
 */
export async function viewSyncs(ctx, archived) {
  const [cat, first] = await Promise.all([catalogue(), listSyncs({ limit: 50, archived })]);
  if (!ctx.alive()) return;
  let syncs = first.data;
  let cursor = first.next_cursor;
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: !cursor, onclick: () => loadMore() }, "Load more");
  const problem = h("div");

  const render = () => {
    put(
      body,
      ...syncs.map((s) =>
        h(
          "tr",
          {
            class: "clickable",
            dataset: { syncId: s.id },
            onclick: () => {
              location.hash = `#/syncs/${s.id}`;
            },
          },
          h("td", {}, h("a", { href: `#/syncs/${s.id}` }, s.name)),
          h("td", {}, badge(s.status)),
          h(
            "td",
            {},
            cat.models.get(s.model_id)?.name ?? s.model_id,
            h("span", { class: "muted" }, " → "),
            cat.destinations.get(s.destination_id)?.name ?? s.destination_id,
          ),
          h("td", {}, s.mode),
          h("td", {}, scheduleInWords(s.schedule)),
          h("td", {}, lastRunCell(s)),
          h("td", {}, s.next_run_at ? timeCell(s.next_run_at) : h("span", { class: "muted" }, "—")),
        ),
      ),
    );
  };
  const loadMore = async () => {
    const page = await listSyncs({ limit: 50, archived, cursor });
    syncs = syncs.concat(page.data);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    render();
  };
  const refresh = async () => {
    try {
      const page = await listSyncs({ limit: Math.max(50, syncs.length), archived });
      if (!ctx.alive()) return;
      syncs = page.data;
      put(problem);
      render();
    } catch (err) {
      if (ctx.alive()) put(problem, errorBox(err));
    }
  };
  const poller = ctx.poll(refresh, () => (syncs.some((s) => s.last_run && !isFinal(s.last_run.status)) ? 2000 : 10_000));

  render();
  put(
    ctx.main,
    h("h1", {}, "Syncs"),
    h(
      "div",
      { class: "tabs" },
      h("a", { href: "#/", class: archived ? "" : "current" }, "Current"),
      h("a", { href: "#/archived", class: archived ? "current" : "" }, "Archived"),
    ),
    problem,
    syncs.length === 0
      ? h(
          "div",
          { class: "empty" },
          archived ? "No archived syncs." : h("span", {}, "No syncs yet. ", h("a", { href: "#/syncs/new" }, "Create the first one"), "."),
        )
      : h(
          "table",
          { id: "syncs" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Name", "Status", "Model → destination", "Mode", "Schedule", "Last run", "Next run"].map((t) => h("th", {}, t)),
            ),
          ),
          body,
        ),
    more,
  );
  poller.start();
}
