// @ts-check
// The sync form's live mapping preview: the model's first rows mapped through the mappings being
// edited, exactly as a run would send them (the API maps them with the run's own code), refreshed
// a moment after each edit.
/** @import { FieldMapping } from "../types.js" */
import { previewMapping } from "../api.js";
import { errorBox, h, put } from "../dom.js";

/** Rows shown; the API reads them from the warehouse on each refresh. */
const PREVIEW_ROWS = 5;
/** Quiet time after the last keystroke before asking again. */
const DEBOUNCE_MS = 400;

/** A value as the preview shows it: text as is, anything else as JSON. @param {unknown} v */
const shown = (v) => (typeof v === "string" ? v : JSON.stringify(v));

/**
 * @param {() => string} modelId the chosen model
 * @param {() => FieldMapping[]} mappings the mappings as edited now
 * @returns {{ element: HTMLElement, refresh: () => void }} the panel, and what to call after an edit
 */
export function mappingPreview(modelId, mappings) {
  const body = h("div", { class: "hint" }, "The model's first rows, as the destination will receive them, appear here.");
  const element = h("div", { class: "field", id: "mapping-preview" }, h("label", {}, "Preview"), body);
  let timer = 0;
  // Answers can arrive out of order: only the latest request's is shown.
  let latest = 0;

  const load = async () => {
    const current = mappings().filter((m) => m.destination);
    const id = modelId();
    if (!id || current.length === 0) return put(body, "Map a field to see it here.");
    const ask = ++latest;
    try {
      const preview = await previewMapping(id, { limit: PREVIEW_ROWS, field_mappings: current });
      if (ask !== latest) return;
      const fields = current.map((m) => m.destination);
      put(
        body,
        h(
          "table",
          { class: "preview" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              fields.map((f) => h("th", {}, f)),
            ),
          ),
          h(
            "tbody",
            {},
            (preview.mapped ?? []).map((row) =>
              "error" in row
                ? h("tr", {}, h("td", { class: "error-text", colspan: String(fields.length) }, `This row fails: ${row.error}`))
                : h(
                    "tr",
                    {},
                    fields.map((f) => h("td", {}, f in row.fields ? shown(row.fields[f]) : "")),
                  ),
            ),
          ),
        ),
      );
    } catch (err) {
      if (ask === latest) put(body, errorBox(err));
    }
  };

  return {
    element,
    refresh() {
      clearTimeout(timer);
      timer = Number(setTimeout(load, DEBOUNCE_MS));
    },
  };
}
