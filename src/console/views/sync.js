// @ts-check
// #/syncs/{id}: one sync (lifecycle buttons, settings, trigger webhook), a chart of its recent runs
// (run-chart.js) and its runs; polled.
/** @import { Destination, FieldMapping, Model, Run, Sync, SyncStatus } from "../types.js" */
/** @import { Child, Props } from "../dom.js" */
/** @import { ViewContext } from "../view-context.js" */
import {
  archiveSync,
  deleteSyncPermanently,
  getDestination,
  getModel,
  getSync,
  listRuns,
  pauseSync,
  restoreSync,
  resumeSync,
  rotateTriggerSecret,
  triggerSync,
} from "../api.js";
import { badge, errorBox, h, progressCell, put, timeCell } from "../dom.js";
import { count, duration, localTime, relative, scheduleInWords } from "../format.js";
import { isFinal, MODES } from "../vocabulary.js";
import { runChart } from "./run-chart.js";

/**
 * Which lifecycle actions the sync's status allows (the API answers 409 to the others).
 * @param {SyncStatus} status
 */
function allowed(status) {
  return {
    trigger: status !== "archived",
    pause: status === "created" || status === "active" || status === "error",
    resume: status === "paused" || status === "error",
    archive: status !== "archived",
    restore: status === "archived",
    edit: status !== "archived",
  };
}
/** @typedef {keyof ReturnType<typeof allowed>} Action */

/** Whether an action answered with the sync (rather than a run). @param {Sync | Run} result @returns {result is Sync} */
const isSync = (result) => result.id.startsWith("syn_");

/**
 * One row of the runs table: counts when finished, progress while running.
 * @param {string} syncId
 * @param {Run} run
 * @param {number} expectedRows
 */
function runRow(syncId, run, expectedRows) {
  const running = !isFinal(run.status);
  return h(
    "tr",
    {
      class: "clickable",
      dataset: { runId: run.id },
      onclick: () => {
        location.hash = `#/syncs/${syncId}/runs/${run.id}`;
      },
    },
    h("td", {}, h("a", { href: `#/syncs/${syncId}/runs/${run.id}`, class: "mono" }, run.id)),
    h("td", {}, badge(run.status)),
    h("td", {}, run.trigger, run.options?.dry_run ? " (dry run)" : ""),
    h("td", {}, timeCell(run.started_at ?? run.created_at)),
    running
      ? h("td", { colspan: 6 }, progressCell(run, expectedRows))
      : [
          h("td", { class: "num" }, duration(run.duration_ms)),
          h("td", { class: "num", "data-count": "created" }, count(run.rows_created)),
          h("td", { class: "num", "data-count": "updated" }, count(run.rows_updated)),
          h("td", { class: "num", "data-count": "deleted" }, count(run.rows_deleted)),
          h("td", { class: "num", "data-count": "unchanged" }, count(run.rows_unchanged)),
          h("td", { class: "num", "data-count": "failed" }, count(run.rows_failed)),
        ],
  );
}

/**
 * The sync's settings as a definition list.
 * @param {Sync} sync
 * @param {Model | null} model
 * @param {Destination | null} destination
 * @param {Child} triggerUrl the webhook URL and its "new secret" button
 */
function settings(sync, model, destination, triggerUrl) {
  return h(
    "dl",
    { class: "grid" },
    h("dt", {}, "Model"),
    h("dd", {}, model ? h("span", {}, model.name, h("span", { class: "muted" }, ` · key ${model.primary_key}`)) : sync.model_id),
    model ? [h("dt", {}, "SQL"), h("dd", {}, h("pre", { id: "model-sql" }, model.sql))] : null,
    h("dt", {}, "Destination"),
    h("dd", {}, destination ? `${destination.name} (${destination.type})` : sync.destination_id),
    h("dt", {}, "Mode"),
    h("dd", { id: "sync-mode" }, h("b", {}, sync.mode), h("span", { class: "muted" }, ` — ${MODES[sync.mode] ?? ""}`)),
    h("dt", {}, "Schedule"),
    h("dd", { id: "sync-schedule" }, scheduleInWords(sync.schedule)),
    h("dt", {}, "Next run"),
    h(
      "dd",
      { id: "sync-next-run" },
      sync.next_run_at
        ? h("span", {}, localTime(sync.next_run_at), h("span", { class: "muted" }, ` (${relative(sync.next_run_at)})`))
        : h("span", { class: "muted" }, sync.schedule.type === "manual" ? "only when triggered" : `not scheduled while ${sync.status}`),
    ),
    h("dt", {}, "Field mappings"),
    h(
      "dd",
      {},
      h(
        "table",
        { class: "mappings" },
        sync.field_mappings.map((m) =>
          h("tr", {}, h("td", { class: "mono" }, mappingSourceText(m)), h("td", {}, "→"), h("td", { class: "mono" }, m.destination)),
        ),
      ),
    ),
    sync.mode === "mirror"
      ? [
          h("dt", {}, "Mass-delete guard"),
          h("dd", {}, `a run may delete up to ${sync.mass_delete_threshold_pct}% of the synced rows without confirmation`),
        ]
      : null,
    h("dt", {}, "Updates send"),
    h(
      "dd",
      { id: "sync-send" },
      sync.send === "changed_fields" ? "only the fields that changed (and the record's identity fields)" : "every mapped field",
      sync.null_values === "skip" ? "; null fields are left out" : "; null fields are sent",
    ),
    h("dt", {}, "Time limit"),
    h("dd", { id: "sync-time-limit" }, `a run still going after ${count(sync.max_run_minutes)} minutes is stopped and counts as failed`),
    h("dt", {}, "Trigger webhook"),
    h("dd", {}, triggerUrl),
  );
}

/**
 * A sync and its runs, 20 at a time.
 * @param {ViewContext} ctx
 * @param {string} id
 */
export async function viewSync(ctx, id) {
  let sync = await getSync(id);
  const [model, destination, firstRuns] = await Promise.all([
    getModel(sync.model_id).catch(() => null),
    getDestination(sync.destination_id).catch(() => null),
    listRuns(id, { limit: 20 }),
  ]);
  if (!ctx.alive()) return;
  let runs = firstRuns.data;
  let cursor = firstRuns.next_cursor;
  const problem = h("div");
  const header = h("div");
  const details = h("div");
  const runsBody = h("tbody");
  const noRuns = h("div", { class: "empty", id: "no-runs" }, "No runs yet. “Run now” starts one.");
  const more = h("button", { type: "button", hidden: !cursor, onclick: () => loadMore() }, "Load more runs");
  const chart = h("div", { class: "chart" });

  /** Runs a lifecycle call, keeps the sync it answers with, and refreshes at once. @param {() => Promise<Sync | Run | void>} call */
  const act = async (call) => {
    put(problem);
    try {
      const result = await call();
      if (result && isSync(result)) sync = result;
      await poller.now();
    } catch (err) {
      put(problem, errorBox(err));
    }
  };

  const renderHeader = () => {
    const can = allowed(sync.status);
    /**
     * A lifecycle button named after its action (unless `extra.name` says otherwise), enabled when the action is allowed.
     * @param {Action} action
     * @param {string} label
     * @param {() => void} onclick
     * @param {Props} [extra]
     */
    const button = (action, label, onclick, extra = {}) =>
      h("button", { type: "button", name: action, disabled: !can[action], onclick, ...extra }, label);
    put(
      header,
      h("div", { class: "crumb" }, h("a", { href: "#/" }, "Syncs"), " / "),
      h("h1", {}, h("span", { id: "sync-name" }, sync.name), badge(sync.status, { id: "sync-status" })),
      sync.status_reason ? h("div", { class: "alert" }, sync.status_reason) : null,
      h(
        "div",
        { class: "actions" },
        button("trigger", "Run now", () => act(() => triggerSync(id, {})), { class: "primary" }),
        button(
          "trigger",
          "Full resync",
          () => {
            if (confirm("Send every row again, ignoring what the destination already has?")) {
              act(() => triggerSync(id, { full_resync: true }));
            }
          },
          { name: "trigger-full" },
        ),
        // A preview: counts what a run would send; opens the run to show its plan.
        button(
          "trigger",
          "Dry run",
          () =>
            act(async () => {
              const run = await triggerSync(id, { dry_run: true });
              location.hash = `#/syncs/${id}/runs/${run.id}`;
            }),
          { name: "trigger-dry" },
        ),
        button("pause", "Pause", () => act(() => pauseSync(id))),
        button("resume", "Resume", () => act(() => resumeSync(id))),
        can.edit
          ? h("a", { class: "button", href: `#/syncs/${id}/edit` }, "Edit")
          : h("button", { type: "button", disabled: true }, "Edit"),
        button("archive", "Archive", () => act(() => archiveSync(id)), { class: "danger" }),
        button("restore", "Restore", () => act(() => restoreSync(id))),
        sync.status === "archived"
          ? h(
              "button",
              {
                type: "button",
                name: "delete",
                class: "danger",
                onclick: async () => {
                  if (!confirm(`Delete "${sync.name}" for good, with its runs and snapshots?`)) return;
                  try {
                    await deleteSyncPermanently(id);
                    location.hash = "#/archived";
                  } catch (err) {
                    put(problem, errorBox(err));
                  }
                },
              },
              "Delete permanently",
            )
          : null,
      ),
    );
  };

  const renderDetails = () => {
    const newSecret = h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: async () => {
          if (!confirm("Make a new trigger secret? The current webhook URL stops working at once.")) return;
          try {
            const rotated = await rotateTriggerSecret(id);
            const url = document.getElementById("trigger-url");
            if (url) url.textContent = rotated.trigger_url;
          } catch (err) {
            put(problem, errorBox(err));
          }
        },
      },
      "new secret",
    );
    put(details, settings(sync, model, destination, [h("code", { id: "trigger-url" }, sync.trigger_url), " ", newSecret]));
  };

  const renderRuns = () => {
    const expected = runs.find((r) => isFinal(r.status) && r.status !== "failed")?.rows_processed ?? 0;
    put(
      runsBody,
      runs.map((r) => runRow(id, r, expected)),
    );
    noRuns.hidden = runs.length > 0;
    put(chart, runChart(runs.slice(0, 30)));
  };

  const loadMore = async () => {
    const page = await listRuns(id, { limit: 20, cursor });
    runs = runs.concat(page.data);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    renderRuns();
  };

  const busy = () => runs.some((r) => !isFinal(r.status)) || (sync.last_run !== null && !isFinal(sync.last_run.status));
  const refresh = async () => {
    try {
      const [s, page] = await Promise.all([getSync(id), listRuns(id, { limit: Math.max(20, runs.length) })]);
      if (!ctx.alive()) return;
      sync = s;
      runs = page.data;
      renderHeader();
      renderDetails();
      renderRuns();
    } catch (err) {
      if (ctx.alive()) put(problem, errorBox(err));
    }
  };
  const poller = ctx.poll(refresh, () => (busy() ? 1500 : 10_000));
  renderHeader();
  renderDetails();
  renderRuns();
  put(
    ctx.main,
    header,
    problem,
    details,
    h("h2", {}, "Runs"),
    chart,
    noRuns,
    h(
      "table",
      { id: "runs" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Run", "Status", "Trigger", "Started", "Duration", "Created", "Updated", "Deleted", "Unchanged", "Failed"].map((t, i) =>
            h("th", { class: i >= 4 ? "num" : "" }, t),
          ),
        ),
      ),
      runsBody,
    ),
    more,
  );
  poller.start();
}

/** What fills a mapped field, as the sync page shows it: a column, a constant (JSON) or a template. @param {FieldMapping} m */
function mappingSourceText(m) {
  if ("source" in m) return m.source;
  return "static" in m ? `= ${JSON.stringify(m.static)}` : `template ${m.template}`;
}
