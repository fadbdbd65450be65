// @ts-check
// #/models: the workspace's models with their source and key; #/models/new and #/models/{id}: the
// model form, with a SQL editor, a preview of the query's first rows (nothing saved) and the
// primary key picked from the previewed columns. API errors are shown next to their field.
/** @import { ModelBody, ModelColumn } from "../types.js" */
/** @import { ViewContext } from "../view-context.js" */
import { ApiError, createModel, getModel, listModels, listSources, previewQuery, updateModel } from "../api.js";
import { errorBox, h, put, timeCell } from "../dom.js";

/** Rows a preview shows. */
const PREVIEW_ROWS = 20;

/** @param {ViewContext} ctx */
export async function viewModels(ctx) {
  const [models, sources] = await Promise.all([listModels(), listSources()]);
  if (!ctx.alive()) return;
  const sourceName = new Map(sources.map((s) => [s.id, s.name]));
  put(
    ctx.main,
    h("h1", {}, "Models"),
    h("p", { class: "muted" }, "The SQL queries syncs read, each on a source, with the column that identifies a row."),
    h("div", { class: "actions" }, h("a", { class: "button primary", href: "#/models/new" }, "New model")),
    models.length === 0
      ? h("p", { class: "muted", id: "no-models" }, "No models yet.")
      : h(
          "table",
          { id: "models" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Name", "Source", "Key", "Columns", "Updated"].map((t) => h("th", {}, t)),
            ),
          ),
          h(
            "tbody",
            {},
            models.map((m) =>
              h(
                "tr",
                { "data-id": m.id },
                h("td", {}, h("a", { href: `#/models/${m.id}` }, m.name)),
                h("td", {}, sourceName.get(m.source_id) ?? m.source_id),
                h("td", { class: "mono" }, m.primary_key),
                h("td", {}, String(m.columns.length)),
                h("td", {}, timeCell(m.updated_at)),
              ),
            ),
          ),
        ),
  );
}

/** A cell's text: JSON for objects, "NULL" for null. @param {unknown} v */
const cellText = (v) => (v === null || v === undefined ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v));

/**
 * A textarea that indents with Tab (two spaces) instead of leaving the field; Escape then Tab leaves it.
 * @param {HTMLTextAreaElement} area
 */
function tabIndents(area) {
  let escaped = false;
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") escaped = true;
    if (event.key !== "Tab" || escaped || event.shiftKey) {
      if (event.key !== "Escape") escaped = false;
      return;
    }
    event.preventDefault();
    const { selectionStart: start, selectionEnd: end } = area;
    area.setRangeText("  ", start, end, "end");
  });
}

/**
 * @param {ViewContext} ctx
 * @param {string | null} id null for a new model
 */
export async function viewModelForm(ctx, id) {
  const [sources, existing] = await Promise.all([listSources(), id ? getModel(id) : Promise.resolve(null)]);
  if (!ctx.alive()) return;
  const crumb = h("div", { class: "crumb" }, h("a", { href: "#/models" }, "Models"), " / ");
  if (sources.length === 0) {
    put(
      ctx.main,
      crumb,
      h("h1", {}, "New model"),
      h(
        "div",
        { class: "note" },
        "A model reads from a source, and this workspace has none yet. ",
        h("a", { href: "#/sources/new" }, "Create a source"),
        " first.",
      ),
    );
    return;
  }

  /** @type {Map<string, HTMLElement>} body path → its error box */
  const errors = new Map();
  /** A field: label, input, hint, and the box its API errors go to. @param {string} path @param {string} label @param {HTMLElement} input @param {import("../dom.js").Child} [hint] */
  const field = (path, label, input, hint) => {
    const error = h("div", { class: "field-error", "data-error-for": path, role: "alert", hidden: true });
    errors.set(path, error);
    return h(
      "div",
      { class: "field", "data-path": path },
      h("label", { for: input.id }, label),
      input,
      hint ? h("div", { class: "hint" }, hint) : null,
      error,
    );
  };

  const name = h("input", { id: "field-name", name: "name", maxlength: 200, size: 50, value: existing?.name ?? "" });
  const sourceSelect = h(
    "select",
    { id: "field-source_id", name: "source_id" },
    sources.map((s) => h("option", { value: s.id, selected: s.id === existing?.source_id }, `${s.name} (${s.type})`)),
  );
  const sql = h("textarea", {
    id: "field-sql",
    name: "sql",
    class: "mono sql",
    rows: 12,
    spellcheck: "false",
    placeholder: "SELECT id, email, plan FROM customers",
  });
  sql.value = existing?.sql ?? "";
  tabIndents(sql);
  const keySelect = h("select", { id: "field-primary_key", name: "primary_key" });
  const keyHint = h("span", {});
  const previewArea = h("div", { id: "preview" });
  const problem = h("div");

  /** Offers `columns` as keys, keeping the chosen one, else the existing key, else "id", else the first. @param {ModelColumn[]} columns */
  const offerKeys = (columns) => {
    const current = keySelect.value || existing?.primary_key || "";
    const pick = columns.some((c) => c.name === current) ? current : (columns.find((c) => c.name === "id")?.name ?? columns[0]?.name ?? "");
    put(
      keySelect,
      columns.length === 0 ? h("option", { value: "" }, "— preview the query to choose —") : null,
      columns.map((c) => h("option", { value: c.name, selected: c.name === pick }, `${c.name} (${c.type})`)),
    );
    keyHint.textContent = columns.length === 0 ? "" : "The column that identifies a row: unique, never null, and stable over time.";
  };
  offerKeys(existing?.columns ?? []);

  /** Shows API errors next to their fields; the rest in the form's alert. @param {unknown} err */
  const showError = (err) => {
    for (const box of errors.values()) {
      put(box);
      box.hidden = true;
    }
    const details = err instanceof ApiError ? err.details : [];
    const rest = details.filter((d) => {
      const box = errors.get(d.path);
      if (!box) return true;
      box.append(h("div", {}, d.message));
      box.hidden = false;
      return false;
    });
    put(problem, details.length > 0 && rest.length === 0 ? null : errorBox(err));
  };

  const previewButton = h(
    "button",
    {
      type: "button",
      name: "preview",
      onclick: async () => {
        showError(null);
        put(problem);
        put(previewArea, h("p", { class: "muted" }, "Running the query…"));
        previewButton.disabled = true;
        try {
          const preview = await previewQuery({ source_id: sourceSelect.value, sql: sql.value, limit: PREVIEW_ROWS });
          offerKeys(preview.columns);
          put(
            previewArea,
            h("div", { class: "hint" }, `First ${preview.rows.length} row(s), read-only; nothing is saved.`),
            h(
              "div",
              { class: "scroll" },
              h(
                "table",
                { id: "preview-rows", class: "compact" },
                h(
                  "thead",
                  {},
                  h(
                    "tr",
                    {},
                    preview.columns.map((c) => h("th", { "data-column": c.name, title: c.type }, c.name)),
                  ),
                ),
                h(
                  "tbody",
                  {},
                  preview.rows.map((row) =>
                    h(
                      "tr",
                      {},
                      preview.columns.map((c) => h("td", { class: row[c.name] === null ? "muted" : "" }, cellText(row[c.name]))),
                    ),
                  ),
                ),
              ),
            ),
          );
        } catch (err) {
          put(previewArea);
          showError(err);
        } finally {
          previewButton.disabled = false;
        }
      },
    },
    "Preview",
  );
  const submit = h("button", { type: "submit", class: "primary" }, existing ? "Save changes" : "Create model");

  const form = h(
    "form",
    {
      class: "model",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        showError(null);
        put(problem);
        /** @type {ModelBody} */
        const body = { name: name.value.trim(), source_id: sourceSelect.value, sql: sql.value, primary_key: keySelect.value };
        submit.disabled = true;
        try {
          await (existing ? updateModel(existing.id, body) : createModel(body));
          location.hash = "#/models";
        } catch (err) {
          showError(err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    field("name", "Name", name),
    field("source_id", "Source", sourceSelect, h("a", { href: "#/sources/new" }, "New source")),
    field("sql", "SQL", sql, "One read-only SELECT; it runs in a read-only transaction. Tab indents; Escape then Tab leaves the editor."),
    h("div", { class: "actions" }, previewButton),
    previewArea,
    field("primary_key", "Primary key", keySelect, keyHint),
    problem,
    h("div", { class: "actions" }, submit, h("a", { class: "button", href: "#/models" }, "Back")),
  );
  put(ctx.main, crumb, h("h1", {}, existing ? `Edit “${existing.name}”` : "New model"), form);
}
