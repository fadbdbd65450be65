// The web console: a build-free single page on top of /api/v1 (hash routes, no dependencies).
//   #/                          syncs list            #/archived          archived syncs
//   #/syncs/new                 create a sync         #/syncs/{id}/edit   edit a sync
//   #/syncs/{id}                a sync and its runs   #/syncs/{id}/runs/{run_id}   a run and its row errors
import { api, ApiError, listAll, token } from "./api.js";
import { count, duration, localTime, relative, runProgress, scheduleInWords, toCsv } from "./format.js";

const main = document.getElementById("main");
const signOut = document.getElementById("sign-out");

const FINAL = new Set(["succeeded", "partial", "failed", "cancelled"]);
const MODES = {
  upsert: "creates and updates records; never deletes",
  mirror: "creates, updates and deletes, so the destination matches the model",
  append: "only sends rows whose key it has not seen before; never updates or deletes",
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** Creates an element: h("a", { href, class, onclick }, "text", child, …). Strings become text nodes. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of `el`, skipping null, undefined and false (replaceChildren would print them). */
function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function badge(status, extra = {}) {
  return h("span", { class: `badge ${status}`, "data-status": status, ...extra }, status);
}

function timeCell(iso) {
  return h("span", { title: localTime(iso), class: "nowrap" }, relative(iso));
}

/** An API (or any) error as an alert box: its message, each detail, the request id. */
function errorBox(err) {
  const isApi = err instanceof ApiError;
  return h(
    "div",
    { class: "alert", role: "alert" },
    h("strong", {}, isApi ? `${err.message}` : String(err?.message ?? err)),
    isApi && err.details.length > 0
      ? h(
          "ul",
          {},
          err.details.map((d) => h("li", {}, `${d.path}: ${d.message}`)),
        )
      : null,
    isApi
      ? h(
          "div",
          { class: "muted" },
          `${err.code}${err.status ? ` · HTTP ${err.status}` : ""}${err.requestId ? ` · request ${err.requestId}` : ""}`,
        )
      : null,
  );
}

// ---------------------------------------------------------------------------------------------
// Router

let generation = 0;
let cleanups = [];

/** What a view gets: whether it is still shown, and polling that stops when it is left. */
function viewContext() {
  const mine = ++generation;
  const alive = () => mine === generation;
  return {
    alive,
    /**
     * Runs `fn` every `interval()` ms (null: stop) while the view is shown. `now()` runs it at once
     * and restarts the wait, e.g. after a button changed something; runs never overlap.
     */
    poll(fn, interval) {
      let timer = null;
      let running = false;
      let again = false;
      const arm = () => {
        const ms = interval();
        if (alive() && ms !== null) timer = setTimeout(tick, ms);
      };
      const tick = async () => {
        clearTimeout(timer);
        timer = null;
        if (running) {
          again = true;
          return;
        }
        running = true;
        try {
          await fn();
        } finally {
          running = false;
        }
        if (!alive()) return;
        if (again) {
          again = false;
          return tick();
        }
        arm();
      };
      cleanups.push(() => clearTimeout(timer));
      return { start: arm, now: tick };
    },
  };
}

async function route() {
  for (const f of cleanups) f();
  cleanups = [];
  const ctx = viewContext();
  signOut.hidden = !token.get();
  if (!token.get()) return viewToken();
  const hash = location.hash.replace(/^#/, "") || "/";
  let m;
  put(main, h("p", { class: "muted" }, "Loading…"));
  try {
    if (hash === "/" || hash === "/syncs") await viewSyncs(ctx, false);
    else if (hash === "/archived") await viewSyncs(ctx, true);
    else if (hash === "/syncs/new") await viewSyncForm(ctx, null);
    else if ((m = /^\/syncs\/([^/]+)\/edit$/.exec(hash))) await viewSyncForm(ctx, m[1]);
    else if ((m = /^\/syncs\/([^/]+)\/runs\/([^/]+)$/.exec(hash))) await viewRun(ctx, m[1], m[2]);
    else if ((m = /^\/syncs\/([^/]+)$/.exec(hash))) await viewSync(ctx, m[1]);
    else put(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the syncs")));
  } catch (err) {
    if (!ctx.alive()) return;
    if (err instanceof ApiError && err.status === 401) return viewToken(err.message);
    put(main, errorBox(err), h("p", {}, h("a", { href: "#/" }, "Back to the syncs")));
  }
}

window.addEventListener("hashchange", route);
signOut.addEventListener("click", () => {
  token.clear();
  route();
});
route();

// ---------------------------------------------------------------------------------------------
// Token

function viewToken(problem) {
  signOut.hidden = true;
  const input = h("input", { type: "password", name: "token", autocomplete: "off", placeholder: "dev_… or retl_…", required: true });
  const status = h("div");
  if (problem) put(status, h("div", { class: "alert", role: "alert" }, `The saved token was refused: ${problem}`));
  const form = h(
    "form",
    {
      class: "token",
      onsubmit: async (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        token.set(value);
        try {
          await api("GET", "/syncs?limit=1");
          route();
        } catch (err) {
          token.clear();
          put(status, errorBox(err));
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API token. ", h("code", {}, "npm start"), " prints the local admin token; ", "it is kept in this browser only."),
    input,
    status,
    h("button", { class: "primary", type: "submit" }, "Save token"),
  );
  put(main, form);
  input.focus();
}

// ---------------------------------------------------------------------------------------------
// Syncs list

/** id → name of the workspace's models and destinations, for labels. */
async function catalogue() {
  const [models, destinations] = await Promise.all([listAll("/models"), listAll("/destinations")]);
  return {
    models: new Map(models.map((m) => [m.id, m])),
    destinations: new Map(destinations.map((d) => [d.id, d])),
  };
}

function lastRunCell(sync) {
  const run = sync.last_run;
  if (!run) return h("span", { class: "muted" }, "never run");
  const counts =
    FINAL.has(run.status) && run.options?.dry_run
      ? h("span", { class: "muted" }, " dry run, nothing sent")
      : FINAL.has(run.status)
        ? h(
            "span",
            { class: "muted" },
            ` ${count(run.rows_created)} created · ${count(run.rows_updated)} updated · ${count(run.rows_deleted)} deleted${run.rows_failed ? ` · ${count(run.rows_failed)} failed` : ""}`,
          )
        : h("span", { class: "muted" }, ` ${runProgress(run).label}`);
  return h("span", {}, badge(run.status), " ", timeCell(run.finished_at ?? run.started_at ?? run.created_at), h("br"), counts);
}

async function viewSyncs(ctx, archived) {
  const [cat, first] = await Promise.all([catalogue(), api("GET", `/syncs?limit=50${archived ? "&status=archived" : ""}`)]);
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
          { class: "clickable", dataset: { syncId: s.id }, onclick: () => (location.hash = `#/syncs/${s.id}`) },
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
    const page = await api("GET", `/syncs?limit=50${archived ? "&status=archived" : ""}&cursor=${encodeURIComponent(cursor)}`);
    syncs = syncs.concat(page.data);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    render();
  };
  const refresh = async () => {
    try {
      const page = await api("GET", `/syncs?limit=${Math.max(50, syncs.length)}${archived ? "&status=archived" : ""}`);
      if (!ctx.alive()) return;
      syncs = page.data;
      put(problem);
      render();
    } catch (err) {
      if (ctx.alive()) put(problem, errorBox(err));
    }
  };
  const poller = ctx.poll(refresh, () => (syncs.some((s) => s.last_run && !FINAL.has(s.last_run.status)) ? 2000 : 10_000));

  render();
  put(
    main,
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

// ---------------------------------------------------------------------------------------------
// One sync

/** Which lifecycle actions the sync's status allows (the API answers 409 to the others). */
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

function progressCell(run, expectedRows) {
  const { label, fraction } = runProgress(run, expectedRows);
  return h(
    "span",
    { class: "progress", "data-progress": run.id },
    fraction === null ? null : h("span", { class: "bar" }, h("span", { style: `width:${Math.round(fraction * 100)}%` })),
    label,
  );
}

function runRow(syncId, run, expectedRows) {
  const running = !FINAL.has(run.status);
  return h(
    "tr",
    { class: "clickable", dataset: { runId: run.id }, onclick: () => (location.hash = `#/syncs/${syncId}/runs/${run.id}`) },
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

async function viewSync(ctx, id) {
  let sync = await api("GET", `/syncs/${id}`);
  const [model, destination, firstRuns] = await Promise.all([
    api("GET", `/models/${sync.model_id}`).catch(() => null),
    api("GET", `/destinations/${sync.destination_id}`).catch(() => null),
    api("GET", `/syncs/${id}/runs?limit=20`),
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

  const act = async (_action, call) => {
    put(problem);
    try {
      const result = await call();
      if (result && result.id && result.id.startsWith("syn_")) sync = result;
      await poller.now();
    } catch (err) {
      put(problem, errorBox(err));
    }
  };

  const renderHeader = () => {
    const can = allowed(sync.status);
    const button = (name, label, onclick, extra = {}) =>
      h("button", { type: "button", name, disabled: !can[name.split("-")[0]], onclick, ...extra }, label);
    put(
      header,
      h("div", { class: "crumb" }, h("a", { href: "#/" }, "Syncs"), " / "),
      h("h1", {}, h("span", { id: "sync-name" }, sync.name), badge(sync.status, { id: "sync-status" })),
      sync.status_reason ? h("div", { class: "alert" }, sync.status_reason) : null,
      h(
        "div",
        { class: "actions" },
        button("trigger", "Run now", () => act("trigger", () => api("POST", `/syncs/${id}/trigger`, {})), { class: "primary" }),
        button("trigger-full", "Full resync", () => {
          if (confirm("Send every row again, ignoring what the destination already has?")) {
            act("trigger", () => api("POST", `/syncs/${id}/trigger`, { full_resync: true }));
          }
        }),
        // A preview: counts what a run would send; opens the run to show its plan.
        button("trigger-dry", "Dry run", () =>
          act("trigger", async () => {
            const run = await api("POST", `/syncs/${id}/trigger`, { dry_run: true });
            location.hash = `#/syncs/${id}/runs/${run.id}`;
          }),
        ),
        button("pause", "Pause", () => act("pause", () => api("POST", `/syncs/${id}/pause`))),
        button("resume", "Resume", () => act("resume", () => api("POST", `/syncs/${id}/resume`))),
        can.edit
          ? h("a", { class: "button", href: `#/syncs/${id}/edit` }, "Edit")
          : h("button", { type: "button", disabled: true }, "Edit"),
        button("archive", "Archive", () => act("archive", () => api("DELETE", `/syncs/${id}`)), { class: "danger" }),
        button("restore", "Restore", () => act("restore", () => api("POST", `/syncs/${id}/restore`))),
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
                    await api("DELETE", `/syncs/${id}?permanent=true`);
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
    const schedule = scheduleInWords(sync.schedule);
    put(
      details,
      h(
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
        h("dd", { id: "sync-schedule" }, schedule),
        h("dt", {}, "Next run"),
        h(
          "dd",
          { id: "sync-next-run" },
          sync.next_run_at
            ? h("span", {}, localTime(sync.next_run_at), h("span", { class: "muted" }, ` (${relative(sync.next_run_at)})`))
            : h("span", { class: "muted" }, sync.schedule.type === "manual" ? "only when triggered" : "not scheduled while " + sync.status),
        ),
        h("dt", {}, "Field mappings"),
        h(
          "dd",
          {},
          h(
            "table",
            { class: "mappings" },
            sync.field_mappings.map((m) =>
              h("tr", {}, h("td", { class: "mono" }, m.source), h("td", {}, "→"), h("td", { class: "mono" }, m.destination)),
            ),
          ),
        ),
        sync.mode === "mirror"
          ? [
              h("dt", {}, "Mass-delete guard"),
              h("dd", {}, `a run may delete up to ${sync.mass_delete_threshold_pct}% of the synced rows without confirmation`),
            ]
          : null,
        h("dt", {}, "Trigger webhook"),
        h(
          "dd",
          {},
          h("code", { id: "trigger-url" }, sync.trigger_url),
          " ",
          h(
            "button",
            {
              type: "button",
              class: "link",
              onclick: async () => {
                if (!confirm("Make a new trigger secret? The current webhook URL stops working at once.")) return;
                try {
                  const rotated = await api("POST", `/syncs/${id}/trigger-secret`);
                  document.getElementById("trigger-url").textContent = rotated.trigger_url;
                } catch (err) {
                  put(problem, errorBox(err));
                }
              },
            },
            "new secret",
          ),
        ),
      ),
    );
  };

  const renderRuns = () => {
    const expected = runs.find((r) => FINAL.has(r.status) && r.status !== "failed")?.rows_processed ?? 0;
    put(
      runsBody,
      runs.map((r) => runRow(id, r, expected)),
    );
    noRuns.hidden = runs.length > 0;
  };

  const loadMore = async () => {
    const page = await api("GET", `/syncs/${id}/runs?limit=20&cursor=${encodeURIComponent(cursor)}`);
    runs = runs.concat(page.data);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    renderRuns();
  };

  const busy = () => runs.some((r) => !FINAL.has(r.status)) || (sync.last_run && !FINAL.has(sync.last_run.status));
  const refresh = async () => {
    try {
      const [s, page] = await Promise.all([api("GET", `/syncs/${id}`), api("GET", `/syncs/${id}/runs?limit=${Math.max(20, runs.length)}`)]);
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
    main,
    header,
    problem,
    details,
    h("h2", {}, "Runs"),
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

// ---------------------------------------------------------------------------------------------
// One run and its row errors

const ERROR_COLUMNS = ["primary_key", "operation", "message", "created_at"];
const SHOWN_ERRORS = 10_000;

async function viewRun(ctx, syncId, runId) {
  const [sync, first] = await Promise.all([api("GET", `/syncs/${syncId}`), api("GET", `/syncs/${syncId}/runs/${runId}`)]);
  if (!ctx.alive()) return;
  let run = first;
  let errors = [];
  let errorsComplete = false;
  const summary = h("div");
  const problem = h("div");
  const errorsBody = h("tbody");
  const errorsNote = h("p", { class: "muted", id: "errors-note" });
  const search = h("input", { type: "search", id: "error-search", placeholder: "Search by key", oninput: () => renderErrors() });
  const download = h("button", { type: "button", id: "download-csv", onclick: () => downloadCsv() }, "Download CSV");

  const renderSummary = () => {
    const running = !FINAL.has(run.status);
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
      run.options?.dry_run && !running && run.status !== "failed"
        ? h(
            "div",
            { class: "alert", id: "run-plan" },
            h("strong", {}, "Dry run: nothing was sent. "),
            `A run now would create ${count(run.progress.planned_creates ?? 0)}, update ${count(run.progress.planned_updates ?? 0)}, ` +
              `upsert ${count(run.progress.planned_upserts ?? 0)} and delete ${count(run.progress.planned_deletes ?? 0)} rows.`,
            run.progress.mass_delete_blocked ? " The mass-delete guard would stop it before sending." : "",
          )
        : null,
      h(
        "div",
        { class: "counts", id: "run-counts" },
        [
          ["processed", run.rows_processed],
          ["created", run.rows_created],
          ["updated", run.rows_updated],
          ["deleted", run.rows_deleted],
          ["unchanged", run.rows_unchanged],
          ["failed", run.rows_failed],
        ].map(([label, n]) => h("div", { "data-count": label }, h("b", {}, count(n)), label)),
      ),
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

  const rerun = async (options) => {
    try {
      const next = await api("POST", `/syncs/${syncId}/trigger`, options);
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

  const loadErrors = async () => {
    const all = [];
    let cursor = null;
    do {
      const page = await api(
        "GET",
        `/syncs/${syncId}/runs/${runId}/errors?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      all.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor && all.length < SHOWN_ERRORS && ctx.alive());
    if (!ctx.alive()) return;
    errors = all;
    errorsComplete = !cursor;
    renderErrors();
  };

  // Every failed row, page by page, as one CSV file.
  const downloadCsv = async () => {
    download.disabled = true;
    try {
      const all = [];
      let cursor = null;
      do {
        const page = await api(
          "GET",
          `/syncs/${syncId}/runs/${runId}/errors?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        );
        all.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor);
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
      run = await api("GET", `/syncs/${syncId}/runs/${runId}`);
      if (!ctx.alive()) return;
      renderSummary();
      if (FINAL.has(run.status) && !FINAL.has(was)) await loadErrors();
    } catch (err) {
      if (ctx.alive()) put(problem, errorBox(err));
    }
  };
  const poller = ctx.poll(refresh, () => (FINAL.has(run.status) ? null : 1500));

  renderSummary();
  renderErrors();
  put(
    main,
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
  );
  poller.start();
  await loadErrors();
}

// ---------------------------------------------------------------------------------------------
// Create / edit a sync

async function viewSyncForm(ctx, id) {
  const [models, destinations, existing] = await Promise.all([
    listAll("/models"),
    listAll("/destinations"),
    id ? api("GET", `/syncs/${id}`) : Promise.resolve(null),
  ]);
  if (!ctx.alive()) return;
  const problem = h("div");
  if (models.length === 0 || destinations.length === 0) {
    put(
      main,
      h("h1", {}, "New sync"),
      h(
        "div",
        { class: "note" },
        `A sync needs a model and a destination; this workspace has ${models.length} model(s) and ${destinations.length} destination(s). `,
        "Create them with the API (",
        h("a", { href: "/docs", target: "_blank" }, "reference"),
        "): POST /api/v1/sources, /api/v1/models, /api/v1/destinations.",
      ),
    );
    return;
  }

  const sync = existing ?? {
    name: "",
    model_id: models[0].id,
    destination_id: destinations[0].id,
    mode: "upsert",
    schedule: { type: "interval", interval_minutes: 60 },
    field_mappings: [],
    mass_delete_threshold_pct: 50,
  };
  let columns = [];

  const name = h("input", { id: "name", name: "name", required: true, maxlength: 200, value: sync.name, size: 50 });
  const modelSelect = h(
    "select",
    { id: "model", name: "model_id" },
    models.map((m) => h("option", { value: m.id, selected: m.id === sync.model_id }, m.name)),
  );
  const modelHint = h("div", { class: "hint" });
  const destinationSelect = h(
    "select",
    { id: "destination", name: "destination_id" },
    destinations.map((d) => h("option", { value: d.id, selected: d.id === sync.destination_id }, `${d.name} (${d.type})`)),
  );
  const modeInputs = Object.entries(MODES).map(([mode, text]) =>
    h(
      "label",
      { class: "radio" },
      h("input", { type: "radio", name: "mode", value: mode, checked: sync.mode === mode, onchange: () => updateMode() }),
      " ",
      h("b", {}, mode),
      ` — ${text}`,
    ),
  );
  const threshold = h("input", {
    id: "threshold",
    type: "number",
    min: 0,
    max: 100,
    value: sync.mass_delete_threshold_pct,
    style: "width:80px",
  });
  const thresholdField = h(
    "div",
    { class: "field" },
    h("label", { for: "threshold" }, "Mass-delete guard (%)"),
    threshold,
    h("div", { class: "hint" }, "A mirror run that would delete more than this share of the synced rows stops and asks for confirmation."),
  );

  const scheduleType = h(
    "select",
    { id: "schedule-type", onchange: () => updateSchedule() },
    [
      ["manual", "Manual only"],
      ["interval", "Every N minutes"],
      ["cron", "Cron (time zone aware)"],
    ].map(([v, t]) => h("option", { value: v, selected: sync.schedule.type === v }, t)),
  );
  const interval = h("input", {
    id: "interval",
    type: "number",
    min: 1,
    value: sync.schedule.interval_minutes ?? 60,
    style: "width:100px",
    oninput: () => updateSchedule(),
  });
  const cron = h("input", {
    id: "cron",
    value: sync.schedule.expression ?? "0 6 * * *",
    placeholder: "0 6 * * *",
    oninput: () => updateSchedule(),
  });
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"];
  const timezone = h("input", {
    id: "timezone",
    list: "timezones",
    value: sync.schedule.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC",
    oninput: () => updateSchedule(),
  });
  const zoneList = h(
    "datalist",
    { id: "timezones" },
    ["UTC", ...zones].map((z) => h("option", { value: z })),
  );
  const intervalRow = h("span", { class: "inline" }, "every", interval, "minutes");
  const cronRow = h(
    "span",
    { class: "inline" },
    cron,
    "in",
    timezone,
    zoneList,
    h("span", { class: "hint" }, "minute hour day-of-month month day-of-week"),
  );
  const scheduleWords = h("div", { class: "hint", id: "schedule-words" });

  const mappingsBody = h("tbody");
  const paused = h("input", { type: "checkbox", id: "paused" });

  const scheduleValue = () => {
    switch (scheduleType.value) {
      case "manual":
        return { type: "manual" };
      case "interval":
        return { type: "interval", interval_minutes: Number(interval.value) };
      default:
        return { type: "cron", expression: cron.value.trim(), timezone: timezone.value.trim() || "UTC" };
    }
  };
  const updateSchedule = () => {
    intervalRow.hidden = scheduleType.value !== "interval";
    cronRow.hidden = scheduleType.value !== "cron";
    scheduleWords.textContent = `→ ${scheduleInWords(scheduleValue())}`;
  };
  const updateMode = () => {
    thresholdField.hidden = modeValue() !== "mirror";
  };
  const modeValue = () => modeInputs.map((l) => l.querySelector("input")).find((i) => i.checked)?.value ?? "upsert";

  const mappingRow = (m = { source: "", destination: "" }) => {
    const source = h(
      "select",
      {
        name: "mapping-source",
        oninput: () => {
          if (!dest.value) dest.value = source.value;
        },
      },
      h("option", { value: "" }, "— column —"),
      columns.map((c) => h("option", { value: c.name, selected: c.name === m.source }, `${c.name} (${c.type})`)),
      m.source && !columns.some((c) => c.name === m.source)
        ? h("option", { value: m.source, selected: true }, `${m.source} (not a column of this model)`)
        : null,
    );
    const dest = h("input", { name: "mapping-destination", value: m.destination, placeholder: "destination field" });
    const row = h(
      "tr",
      {},
      h("td", {}, source),
      h("td", {}, "→"),
      h("td", {}, dest),
      h("td", {}, h("button", { type: "button", class: "link", title: "Remove", onclick: () => row.remove() }, "remove")),
    );
    return row;
  };
  const mappingsValue = () =>
    [...mappingsBody.querySelectorAll("tr")]
      .map((tr) => ({ source: tr.querySelector("select").value, destination: tr.querySelector("input").value.trim() }))
      .filter((m) => m.source || m.destination);

  const loadColumns = async (prefill) => {
    modelHint.textContent = "Loading the model's columns…";
    try {
      const model = await api("GET", `/models/${modelSelect.value}`);
      columns = model.columns;
      modelHint.textContent = `Key: ${model.primary_key} · columns: ${columns.map((c) => c.name).join(", ")}`;
      const current = prefill ?? mappingsValue();
      const next =
        current.length > 0
          ? current
          : columns.filter((c) => c.name !== model.primary_key).map((c) => ({ source: c.name, destination: c.name }));
      put(mappingsBody, ...next.map((m) => mappingRow(m)));
    } catch (err) {
      modelHint.textContent = "";
      put(problem, errorBox(err));
    }
  };
  modelSelect.addEventListener("change", () => loadColumns(null));

  const form = h(
    "form",
    {
      class: "sync",
      onsubmit: async (event) => {
        event.preventDefault();
        put(problem);
        const body = {
          name: name.value.trim(),
          model_id: modelSelect.value,
          destination_id: destinationSelect.value,
          mode: modeValue(),
          schedule: scheduleValue(),
          field_mappings: mappingsValue(),
          mass_delete_threshold_pct: Number(threshold.value),
        };
        if (!id && paused.checked) body.paused = true;
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const saved = id ? await api("PUT", `/syncs/${id}`, body) : await api("POST", "/syncs", body);
          location.hash = `#/syncs/${saved.id}`;
        } catch (err) {
          put(problem, errorBox(err));
          problem.scrollIntoView({ block: "nearest" });
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: "name" }, "Name"), name),
    h("div", { class: "field" }, h("label", { for: "model" }, "Model"), modelSelect, modelHint),
    h("div", { class: "field" }, h("label", { for: "destination" }, "Destination"), destinationSelect),
    h("fieldset", {}, h("legend", {}, "Mode"), modeInputs),
    thresholdField,
    h(
      "div",
      { class: "field" },
      h("label", { for: "schedule-type" }, "Schedule"),
      h("div", { class: "inline" }, scheduleType, intervalRow, cronRow),
      scheduleWords,
    ),
    h(
      "div",
      { class: "field" },
      h("label", {}, "Field mappings"),
      h(
        "div",
        { class: "hint" },
        "Each model column on the left is sent as the destination field on the right. The key column always travels as the record key.",
      ),
      h("table", { class: "mappings", id: "mappings" }, mappingsBody),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", id: "add-mapping", onclick: () => mappingsBody.append(mappingRow()) }, "Add mapping"),
        h(
          "button",
          { type: "button", onclick: () => put(mappingsBody, ...columns.map((c) => mappingRow({ source: c.name, destination: c.name }))) },
          "Map every column",
        ),
        h("button", { type: "button", onclick: () => put(mappingsBody) }, "Clear"),
      ),
    ),
    id ? null : h("div", { class: "field" }, h("label", { class: "radio" }, paused, " Create paused (the schedule starts on resume)")),
    problem,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, id ? "Save changes" : "Create sync"),
      h("a", { class: "button", href: id ? `#/syncs/${id}` : "#/" }, "Cancel"),
    ),
  );

  updateSchedule();
  updateMode();
  put(
    main,
    h(
      "div",
      { class: "crumb" },
      h("a", { href: "#/" }, "Syncs"),
      " / ",
      existing ? h("a", { href: `#/syncs/${id}` }, existing.name) : null,
    ),
    h("h1", {}, existing ? `Edit “${existing.name}”` : "New sync"),
    form,
  );
  await loadColumns(existing ? existing.field_mappings : []);
}
