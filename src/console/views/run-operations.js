// @ts-check
// The run debugger on the run page: every operation of the run (filtered by status, op and key,
// page by page) and one key's history across the retained runs ("why didn't this record update?").
/** @import { OperationFilter, RecordEvent, RunOperation } from "../types.js" */
import { getRecordHistory, listRunOperations } from "../api.js";
import { badge, errorBox, h, put, timeCell } from "../dom.js";

/** A select of `values` with "any" first. @param {string} id @param {string} label @param {string[]} values */
function choice(id, label, values) {
  return h(
    "select",
    { id, "aria-label": label },
    h("option", { value: "" }, `any ${label}`),
    values.map((v) => h("option", { value: v }, v)),
  );
}

/** What the destination answered, in one cell. @param {RunOperation} o */
function answer(o) {
  return h(
    "td",
    {},
    o.error ? h("div", {}, o.error) : null,
    o.response
      ? h("div", { class: "muted mono", title: o.response }, o.response.length > 120 ? `${o.response.slice(0, 120)}…` : o.response)
      : null,
  );
}

/**
 * The run's operations table with its filters and paging.
 * @param {string} syncId
 * @param {string} runId
 * @returns {{ element: HTMLElement, load: () => Promise<void> }}
 */
export function operationsSection(syncId, runId) {
  const status = choice("op-status", "status", ["succeeded", "failed", "planned"]);
  const op = choice("op-kind", "operation", ["create", "update", "upsert", "delete"]);
  const key = h("input", { type: "search", id: "op-key", placeholder: "Exact key" });
  const body = h("tbody");
  const note = h("p", { class: "muted", id: "operations-note" });
  const problem = h("div");
  /** Cursors of the pages before this one (null: the first page). @type {(string | null)[]} */
  let previous = [];
  /** @type {string | null} */
  let current = null;
  /** @type {string | null} */
  let next = null;
  const prev = h(
    "button",
    { type: "button", id: "operations-prev", disabled: true, onclick: () => go(previous.pop() ?? null, false) },
    "Previous",
  );
  const more = h("button", { type: "button", id: "operations-next", disabled: true, onclick: () => go(next, true) }, "Next");

  /** @returns {OperationFilter} */
  const filter = () => ({ status: status.value, op: op.value, key: key.value.trim() });

  /** Shows the page at `cursor`; `forward` keeps the page left behind for "Previous". @param {string | null} cursor @param {boolean} forward */
  const go = async (cursor, forward) => {
    try {
      const page = await listRunOperations(syncId, runId, filter(), cursor);
      if (forward) previous.push(current);
      current = cursor;
      next = page.next_cursor;
      put(problem);
      put(
        body,
        page.data.map((o) =>
          h(
            "tr",
            { dataset: { key: o.key, status: o.status } },
            h("td", { class: "mono" }, o.key),
            h("td", {}, o.op),
            h("td", {}, badge(o.status)),
            h("td", {}, o.destination_status === null ? "—" : String(o.destination_status)),
            h("td", {}, String(o.attempts)),
            answer(o),
            h("td", { class: "mono" }, JSON.stringify(o.fields)),
          ),
        ),
      );
      const pageNo = previous.length + 1;
      note.textContent =
        page.data.length === 0 && pageNo === 1
          ? "No operations match (or the run's log is past its retention)."
          : `Page ${pageNo}: ${page.data.length} operation${page.data.length === 1 ? "" : "s"}${next ? "; more on the next page" : ""}.`;
      prev.disabled = previous.length === 0;
      more.disabled = !next;
    } catch (err) {
      put(problem, errorBox(err));
    }
  };

  /** From the first page, with the filters as they are now. */
  const load = () => {
    previous = [];
    return go(null, false);
  };
  const form = h(
    "form",
    {
      class: "actions",
      id: "operations-filter",
      onsubmit: (e) => {
        e.preventDefault();
        void load();
      },
    },
    status,
    op,
    key,
    h("button", { type: "submit" }, "Filter"),
  );
  const element = h(
    "section",
    { id: "run-operations" },
    h("h2", {}, "Operations"),
    h("p", { class: "muted" }, "Every operation of the run, as sent (planned, for a dry run), with the destination's answer."),
    form,
    problem,
    note,
    h(
      "table",
      { id: "operations" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Key", "Operation", "Status", "HTTP", "Attempts", "Error / response", "Fields"].map((t) => h("th", {}, t)),
        ),
      ),
      body,
    ),
    h("div", { class: "actions" }, prev, more),
  );
  return { element, load };
}

/**
 * The record-history search: one key's operations in every retained run, newest first.
 * @param {string} syncId
 * @returns {HTMLElement}
 */
export function recordHistorySection(syncId) {
  const key = h("input", { type: "search", id: "record-key", placeholder: "Primary key", required: true });
  const body = h("tbody");
  const note = h("p", { class: "muted", id: "record-note" });
  const problem = h("div");
  /** @type {RecordEvent[]} */
  let events = [];
  /** @type {string | null} */
  let cursor = null;
  const more = h("button", { type: "button", id: "record-more", hidden: true, onclick: () => fetchPage(false) }, "Older runs");

  /** @param {boolean} fresh */
  const fetchPage = async (fresh) => {
    const k = key.value.trim();
    if (!k) return;
    try {
      const page = await getRecordHistory(syncId, k, fresh ? null : cursor);
      events = fresh ? page.data : events.concat(page.data);
      cursor = page.next_cursor;
      put(problem);
      put(
        body,
        events.map((e) =>
          h(
            "tr",
            { dataset: { run: e.run_id } },
            h("td", {}, h("a", { href: `#/syncs/${syncId}/runs/${e.run_id}`, class: "mono" }, e.run_id), e.dry_run ? " (dry run)" : ""),
            h("td", {}, timeCell(e.run_started_at)),
            h("td", {}, e.op),
            h("td", {}, badge(e.status)),
            h("td", {}, e.destination_status === null ? "—" : String(e.destination_status)),
            answer(e),
          ),
        ),
      );
      note.textContent = events.length
        ? `${events.length} operation${events.length === 1 ? "" : "s"} on “${k}”${cursor ? "; older runs not searched yet" : ""}.`
        : `No retained run${cursor ? " so far" : ""} sent or planned “${k}”: its row was unchanged, not in the model, or its runs are past retention.`;
      more.hidden = !cursor;
    } catch (err) {
      put(problem, errorBox(err));
    }
  };

  return h(
    "section",
    { id: "record-history" },
    h("h2", {}, "Record history"),
    h("p", { class: "muted" }, "Why didn't a record update? What every retained run planned or sent for one key, and the answer."),
    h(
      "form",
      {
        class: "actions",
        onsubmit: (e) => {
          e.preventDefault();
          void fetchPage(true);
        },
      },
      key,
      h("button", { type: "submit" }, "Show history"),
    ),
    problem,
    note,
    h(
      "table",
      { id: "record-events" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Run", "Started", "Operation", "Status", "HTTP", "Error / response"].map((t) => h("th", {}, t)),
        ),
      ),
      body,
    ),
    more,
  );
}
