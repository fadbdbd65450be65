// @ts-check
// #/syncs/{id}/runs/{run_id}: one run (counts, phase, error, a dry run's plan) and its failed rows,
// searchable by key and downloadable as CSV, then its operations and a record-history search
// (run-operations.js); polled until the run ends.
/** @import { RowError, Run, RunOptions } from "../types.js" */
/** @import { ViewContext } from "../view-context.js" */
import { cancelRun, getRun, getSync, listRunErrors, triggerSync } from "../api.js";
import { badge, errorBox, h, progressCell, put, timeCell } from "../dom.js";
import { count, duration, localTime, toCsv } from "../format.js";
import { isFinal } from "../vocabulary.js";
import { operationsSection, recordHistorySection } from "./run-operations.js";

/** The CSV's columns: fields of RowError. @type {(keyof RowError)[]} */
const ERROR_COLUMNS = ["primary_key", "operation", "message", "created_at"];
/** How many failed rows the page loads for search; the CSV has them all. */
const SHOWN_ERRORS = 10_000;

/**
 * The run's counters as big numbers.
 * @param {Run} run
 */
function counts(run) {
  /** @type {[string, number][]} */
  const shown = [
    ["processed", run.rows_processed],
    ["created", run.rows_created],
    ["updated", run.rows_updated],
    ["deleted", run.rows_deleted],
    ["unchanged", run.rows_unchanged],
    ["failed", run.rows_failed],
  ];
  return h(
    "div",
    { class: "counts", id: "run-counts" },
    shown.map(([label, n]) => h("div", { "data-count": label }, h("b", {}, count(n)), label)),
  );
}

/**
 * What a dry run would have done.
 * @param {Run} run
 */
function plan(run) {
  const p = run.progress;
  return h(
    "div",
    { class: "alert", id: "run-plan" },
    h("strong", {}, "Dry run: nothing was sent. "),
    `A run now would create ${count(p.planned_creates ?? 0)}, update ${count(p.planned_updates ?? 0)}, ` +
      `upsert ${count(p.planned_upserts ?? 0)} and delete ${count(p.planned_deletes ?? 0)} rows.`,
    p.mass_delete_blocked ? " The mass-delete guard would stop it before sending." : "",
  );
}

/**
 * A run and its failed rows.
 * @param {ViewContext} ctx
 * @param {string} syncId
 * @param {string} runId
 */
export async function viewRun(ctx, syncId, runId) {
  const [sync, first] = await Promise.all([getSync(syncId), getRun(syncId, runId)]);
  if (!ctx.alive()) return;
  let run = first;
  /** @type {RowError[]} */
  let errors = [];
  let errorsComplete = false;
  const summary = h("div");
  const problem = h("div");
  const errorsBody = h("tbody");
  const errorsNote = h("p", { class: "muted", id: "errors-note" });
  const search = h("input", { type: "search", id: "error-search", placeholder: "Search by key", oninput: () => renderErrors() });
  const download = h("button", { type: "button", id: "download-csv", onclick: () => downloadCsv() }, "Download CSV");
  const operations = operationsSection(syncId, runId);

  /** A cancel was asked for: the button stays disabled until the run ends. */
  let cancelling = false;
  const renderSummary = () => {
    const running = !isFinal(run.status);
    put(
      summary,
      h("div", { class: "crumb" }, h("a", { href: "#/" }, "Syncs"), " / ", h("a", { href: `#/syncs/${syncId}` }, sync.name), " / "),
      h("h1", {}, h("span", { class: "mono" }, run.id), badge(run.status, { id: "run-status" })),
      run.error
        ? h(
            "div",
            { class: "alert", id: "run-error" },
            h("strong", {}, run.error.code),
            ": ",
            run.error.message,
            run.error.code === "mass_delete_blocked"
              ? h(
                  "div",
                  {},
                  h("button", { type: "button", onclick: () => rerun({ allow_mass_delete: true }) }, "Run again, allowing the deletes"),
                )
              : null,
          )
        : null,
      running ? h("p", {}, progressCell(run, 0)) : null,
      running
        ? h(
            "div",
            { class: "actions" },
            h(
              "button",
              { type: "button", id: "cancel-run", disabled: cancelling, onclick: () => cancel() },
              cancelling ? "Cancelling…" : "Cancel run",
            ),
            h("span", { class: "muted" }, " Stops sending; what the destination acknowledged is kept and the next run sends the rest."),
          )
        : null,
      run.options?.dry_run && !running && run.status !== "failed" ? plan(run) : null,
      counts(run),
      h(
        "dl",
        { class: "grid" },
        h("dt", {}, "Trigger"),
        h(
          "dd",
          {},
          run.trigger,
          run.options?.full_resync ? " (full resync)" : "",
          run.options?.allow_mass_delete ? " (mass delete allowed)" : "",
          run.options?.dry_run ? " (dry run)" : "",
        ),
        h("dt", {}, "Phase"),
        h("dd", {}, run.phase),
        h("dt", {}, "Started"),
        h("dd", {}, localTime(run.started_at)),
        h("dt", {}, "Finished"),
        h("dd", {}, localTime(run.finished_at)),
        h("dt", {}, "Duration"),
        h("dd", { id: "run-duration" }, duration(run.duration_ms)),
      ),
    );
  };

  /** Asks the API to cancel the run; the poll shows it ending. */
  const cancel = async () => {
    cancelling = true;
    renderSummary();
    try {
      run = await cancelRun(syncId, runId);
    } catch (err) {
      cancelling = false;
      put(problem, errorBox(err));
    }
    renderSummary();
  };

  /** Starts another run and opens it. @param {RunOptions} options */
  const rerun = async (options) => {
    try {
      const next = await triggerSync(syncId, options);
      location.hash = `#/syncs/${syncId}/runs/${next.id}`;
    } catch (err) {
      put(problem, errorBox(err));
    }
  };

  const renderErrors = () => {
    const q = search.value.trim().toLowerCase();
    const shown = q ? errors.filter((e) => (e.primary_key ?? "").toLowerCase().includes(q)) : errors;
    put(
      errorsBody,
      ...shown
        .slice(0, 1000)
        .map((e) =>
          h(
            "tr",
            { dataset: { key: e.primary_key ?? "" } },
            h("td", { class: "mono" }, e.primary_key ?? "—"),
            h("td", {}, e.operation),
            h("td", {}, e.message),
            h("td", {}, timeCell(e.created_at)),
          ),
        ),
    );
    const loaded = errorsComplete ? `${count(errors.length)} failed rows` : `${count(errors.length)} failed rows loaded so far`;
    errorsNote.textContent = q
      ? `${count(shown.length)} of ${loaded} match “${search.value.trim()}”${shown.length > 1000 ? " (first 1,000 shown)" : ""}`
      : loaded;
  };

  /**
   * The run's failed rows, page by page, while `more(rows so far)` holds.
   * @param {(loaded: number) => boolean} more
   * @returns {Promise<{ rows: RowError[]; complete: boolean }>}
   */
  const fetchErrors = async (more) => {
    /** @type {RowError[]} */
    const rows = [];
    /** @type {string | null} */
    let cursor = null;
    do {
      const page = await listRunErrors(syncId, runId, cursor);
      rows.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor && more(rows.length));
    return { rows, complete: !cursor };
  };

  const loadErrors = async () => {
    const { rows, complete } = await fetchErrors((loaded) => loaded < SHOWN_ERRORS && ctx.alive());
    if (!ctx.alive()) return;
    errors = rows;
    errorsComplete = complete;
    renderErrors();
  };

  // Every failed row, page by page, as one CSV file.
  const downloadCsv = async () => {
    download.disabled = true;
    try {
      const { rows: all } = await fetchErrors(() => true);
      const url = URL.createObjectURL(new Blob([toCsv(ERROR_COLUMNS, all)], { type: "text/csv;charset=utf-8" }));
      const a = h("a", { href: url, download: `${runId}-errors.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      put(problem, errorBox(err));
    } finally {
      download.disabled = false;
    }
  };

  const refresh = async () => {
    try {
      const was = run.status;
      run = await getRun(syncId, runId);
      if (!ctx.alive()) return;
      renderSummary();
      if (isFinal(run.status) && !isFinal(was)) await Promise.all([loadErrors(), operations.load()]);
    } catch (err) {
      if (ctx.alive()) put(problem, errorBox(err));
    }
  };
  const poller = ctx.poll(refresh, () => (isFinal(run.status) ? null : 1500));

  renderSummary();
  renderErrors();
  put(
    ctx.main,
    summary,
    problem,
    h("h2", {}, "Failed rows"),
    h(
      "p",
      { class: "muted" },
      "Rows the destination refused (or that could not be sent). They are not in the snapshot, so the next run sends them again.",
    ),
    h("div", { class: "actions" }, search, download),
    errorsNote,
    h(
      "table",
      { id: "errors" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Key", "Operation", "Message", "At"].map((t) => h("th", {}, t)),
        ),
      ),
      errorsBody,
    ),
    operations.element,
    recordHistorySection(syncId),
  );
  poller.start();
  await Promise.all([loadErrors(), operations.load()]);
}
