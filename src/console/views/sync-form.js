// @ts-check
// #/syncs/new and #/syncs/{id}/edit: the sync form (model, destination, mode, schedule, field
// mappings offered from the model's columns), saved with POST or PUT.
/** @import { AlertChannel, AlertRules, DestinationField, FieldMapping, ModelColumn, NullValues, Schedule, SendFields, SyncBody, SyncMode } from "../types.js" */
/** @import { ViewContext } from "../view-context.js" */
import {
  createSync,
  getModel,
  getSync,
  listAlertChannels,
  listDestinationFields,
  listDestinations,
  listModels,
  updateSync,
} from "../api.js";
import { errorBox, h, put } from "../dom.js";
import { scheduleInWords } from "../format.js";
import { MODES, SYNC_MODES } from "../vocabulary.js";
import { mappingPreview } from "./mapping-preview.js";

/** @type {[Schedule["type"], string][]} */
const SCHEDULE_TYPES = [
  ["manual", "Manual only"],
  ["interval", "Every N minutes"],
  ["cron", "Cron (time zone aware)"],
];

/**
 * The form to create a sync (`id` null) or edit one.
 * @param {ViewContext} ctx
 * @param {string | null} id
 */
export async function viewSyncForm(ctx, id) {
  const [models, destinations, existing, channels] = await Promise.all([
    listModels(),
    listDestinations(),
    id ? getSync(id) : Promise.resolve(null),
    listAlertChannels(),
  ]);
  if (!ctx.alive()) return;
  const problem = h("div");
  const [firstModel] = models;
  const [firstDestination] = destinations;
  if (!firstModel || !firstDestination) {
    put(
      ctx.main,
      h("h1", {}, "New sync"),
      h(
        "div",
        { class: "note" },
        `A sync needs a model and a destination; this workspace has ${models.length} model(s) and ${destinations.length} destination(s). `,
        firstModel ? null : h("a", { href: "#/models/new", id: "create-model" }, "Create a model"),
        !firstModel && !firstDestination ? " and " : null,
        firstDestination ? null : h("a", { href: "#/destinations/new", id: "create-destination" }, "create a destination"),
        " first.",
      ),
    );
    return;
  }

  /** @type {SyncBody} */
  const sync = existing ?? {
    name: "",
    model_id: firstModel.id,
    destination_id: firstDestination.id,
    mode: "upsert",
    schedule: { type: "interval", interval_minutes: 60 },
    field_mappings: [],
    mass_delete_threshold_pct: 50,
    send: "all_fields",
    null_values: "send",
  };
  const schedule = sync.schedule;
  /** @type {ModelColumn[]} */
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
  // What the chosen destination's type asks of the mappings (the API refuses a sync without it).
  const destinationHint = h("div", { class: "hint", id: "destination-hint" });
  const updateDestinationHint = () => {
    const chosen = destinations.find((d) => d.id === destinationSelect.value);
    const idProperty = chosen?.type === "hubspot" ? chosen.config.id_property : undefined;
    put(
      destinationHint,
      typeof idProperty === "string"
        ? `HubSpot matches records by “${idProperty}”: map the model column holding it to the field “${idProperty}” (in mirror mode, the key column).`
        : "",
    );
  };
  destinationSelect.addEventListener("change", updateDestinationHint);
  // The destination's own fields, offered to every mapping's destination input; required ones are named until mapped.
  /** @type {DestinationField[]} */
  let destinationFields = [];
  const fieldList = h("datalist", { id: "destination-fields" });
  const requiredHint = h("div", { class: "hint", id: "required-fields" });
  const updateRequiredHint = () => {
    const mapped = new Set(mappingsValue().map((m) => m.destination));
    const missing = destinationFields.filter((f) => f.required && !f.identifier && !mapped.has(f.name)).map((f) => f.name);
    const creates = modeValue() !== "update";
    put(requiredHint, creates && missing.length > 0 ? `Required by the destination and not mapped yet: ${missing.join(", ")}` : "");
  };
  const loadDestinationFields = async () => {
    const chosen = destinationSelect.value;
    // A destination that cannot describe its fields (a webhook) or is unreachable just offers no suggestions.
    const fields = await listDestinationFields(chosen).catch(() => []);
    if (destinationSelect.value !== chosen) return;
    destinationFields = fields;
    put(
      fieldList,
      ...fields.map((f) =>
        h(
          "option",
          { value: f.name },
          `${f.label ?? f.name} · ${f.type}${f.required ? " · required" : ""}${f.identifier ? " · identifier" : ""}`,
        ),
      ),
    );
    updateRequiredHint();
  };
  destinationSelect.addEventListener("change", loadDestinationFields);
  const modeRadios = SYNC_MODES.map((mode) => ({
    mode,
    input: h("input", { type: "radio", name: "mode", value: mode, checked: sync.mode === mode, onchange: () => updateMode() }),
  }));
  const modeInputs = modeRadios.map(({ mode, input }) => h("label", { class: "radio" }, input, " ", h("b", {}, mode), ` — ${MODES[mode]}`));
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

  // Simple selects of the sync's send options (src/sync/mapping.ts SEND_FIELDS, NULL_VALUES).
  const sendSelect = h(
    "select",
    { id: "send", name: "send" },
    [
      ["all_fields", "every mapped field"],
      ["changed_fields", "only the fields that changed (and the record's identity fields)"],
    ].map(([v, t]) => h("option", { value: v, selected: (sync.send ?? "all_fields") === v }, t)),
  );
  const nullSelect = h(
    "select",
    { id: "null-values", name: "null_values" },
    [
      ["send", "send them (clear the field at the destination)"],
      ["skip", "leave them out (keep what the destination has)"],
    ].map(([v, t]) => h("option", { value: v, selected: (sync.null_values ?? "send") === v }, t)),
  );
  const sendFields = h(
    "div",
    { class: "field" },
    h("label", { for: "send" }, "An update sends"),
    sendSelect,
    h("div", { class: "hint" }, "Changed fields only: the snapshot keeps a small hash per field and row to tell which changed."),
    h("label", { for: "null-values" }, "Null values"),
    nullSelect,
  );

  const scheduleType = h(
    "select",
    { id: "schedule-type", onchange: () => updateSchedule() },
    SCHEDULE_TYPES.map(([v, t]) => h("option", { value: v, selected: schedule.type === v }, t)),
  );
  const interval = h("input", {
    id: "interval",
    type: "number",
    min: 1,
    value: schedule.type === "interval" ? schedule.interval_minutes : 60,
    style: "width:100px",
    oninput: () => updateSchedule(),
  });
  const cron = h("input", {
    id: "cron",
    value: schedule.type === "cron" ? schedule.expression : "0 6 * * *",
    placeholder: "0 6 * * *",
    oninput: () => updateSchedule(),
  });
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"];
  const timezone = h("input", {
    id: "timezone",
    list: "timezones",
    value: schedule.type === "cron" ? schedule.timezone : (Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC"),
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

  const alerts = alertsSection(channels, sync.alerts ?? null);
  const mappingsBody = h("tbody");
  // Edits anywhere in the mapping table, and rows added or removed, refresh the preview (a moment later).
  mappingsBody.addEventListener("input", () => preview.refresh());
  mappingsBody.addEventListener("change", () => preview.refresh());
  new MutationObserver(() => preview.refresh()).observe(mappingsBody, { childList: true });
  const paused = h("input", { type: "checkbox", id: "paused" });
  const submit = h("button", { type: "submit", class: "primary" }, id ? "Save changes" : "Create sync");

  /** @returns {Schedule} */
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
    updateRequiredHint();
  };
  /** @returns {SyncMode} */
  const modeValue = () => modeRadios.find(({ input }) => input.checked)?.mode ?? "upsert";

  /**
   * A mapping row: what fills the field (a model column, a constant or a Liquid template of the
   * row's columns) and the destination field. A constant is JSON when it parses as JSON, else text.
   * @param {FieldMapping} m
   */
  const mappingRow = (m = { source: "", destination: "" }) => {
    const kind = h(
      "select",
      { name: "mapping-kind", onchange: () => show() },
      h("option", { value: "source", selected: "source" in m }, "column"),
      h("option", { value: "static", selected: "static" in m }, "constant"),
      h("option", { value: "template", selected: "template" in m }, "template"),
    );
    const chosen = "source" in m ? m.source : "";
    const source = h(
      "select",
      {
        name: "mapping-source",
        oninput: () => {
          if (!dest.value) dest.value = source.value;
        },
      },
      h("option", { value: "" }, "— column —"),
      columns.map((c) => h("option", { value: c.name, selected: c.name === chosen }, `${c.name} (${c.type})`)),
      chosen && !columns.some((c) => c.name === chosen)
        ? h("option", { value: chosen, selected: true }, `${chosen} (not a column of this model)`)
        : null,
    );
    const constant = h("input", {
      name: "mapping-static",
      value: "static" in m ? (typeof m.static === "string" ? m.static : JSON.stringify(m.static)) : "",
      placeholder: 'text, or JSON such as 42, true, {"tier":2}',
    });
    const template = h("input", {
      name: "mapping-template",
      class: "mono",
      value: "template" in m ? m.template : "",
      placeholder: "{{ first_name }} {{ last_name | upcase }}",
    });
    const show = () => {
      source.hidden = kind.value !== "source";
      constant.hidden = kind.value !== "static";
      template.hidden = kind.value !== "template";
    };
    show();
    const dest = h("input", {
      name: "mapping-destination",
      list: "destination-fields",
      value: m.destination,
      placeholder: "destination field",
    });
    /** @type {HTMLTableRowElement} */
    const row = h(
      "tr",
      {},
      h("td", {}, kind, " ", source, constant, template),
      h("td", {}, "→"),
      h("td", {}, dest),
      h("td", {}, h("button", { type: "button", class: "link", title: "Remove", onclick: () => row.remove() }, "remove")),
    );
    return row;
  };
  /** @param {HTMLTableRowElement} tr @returns {FieldMapping | null} */
  const mappingOf = (tr) => {
    const value = (/** @type {string} */ name) =>
      /** @type {HTMLInputElement | HTMLSelectElement | null} */ (tr.querySelector(`[name="${name}"]`))?.value ?? "";
    const destination = value("mapping-destination").trim();
    const kind = value("mapping-kind");
    if (kind === "static") {
      const text = value("mapping-static");
      if (!text && !destination) return null;
      /** @type {unknown} */
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON: the constant is the text itself.
      }
      return { static: parsed, destination };
    }
    if (kind === "template") {
      const template = value("mapping-template");
      return template || destination ? { template, destination } : null;
    }
    const source = value("mapping-source");
    return source || destination ? { source, destination } : null;
  };
  /** @returns {FieldMapping[]} */
  const mappingsValue = () =>
    [...mappingsBody.querySelectorAll("tr")].map(mappingOf).filter(/** @returns {m is FieldMapping} */ (m) => m !== null);

  const preview = mappingPreview(() => modelSelect.value, mappingsValue);

  /** Offers the chosen model's columns; keeps `prefill` (or the current rows), else maps every non-key column. */
  const loadColumns = async (/** @type {FieldMapping[] | null} */ prefill) => {
    modelHint.textContent = "Loading the model's columns…";
    try {
      const model = await getModel(modelSelect.value);
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
        /** @type {SyncBody} */
        const body = {
          name: name.value.trim(),
          model_id: modelSelect.value,
          destination_id: destinationSelect.value,
          mode: modeValue(),
          schedule: scheduleValue(),
          field_mappings: mappingsValue(),
          mass_delete_threshold_pct: Number(threshold.value),
          send: /** @type {SendFields} */ (sendSelect.value),
          null_values: /** @type {NullValues} */ (nullSelect.value),
          alerts: alerts.value(),
        };
        if (!id && paused.checked) body.paused = true;
        submit.disabled = true;
        try {
          const saved = id ? await updateSync(id, body) : await createSync(body);
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
    h(
      "div",
      { class: "field" },
      h("label", { for: "model" }, "Model"),
      modelSelect,
      " ",
      h("a", { href: "#/models/new" }, "New model"),
      modelHint,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "destination" }, "Destination"),
      destinationSelect,
      " ",
      h("a", { href: "#/destinations/new" }, "New destination"),
      destinationHint,
    ),
    h("fieldset", {}, h("legend", {}, "Mode"), modeInputs),
    thresholdField,
    sendFields,
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
      h(
        "table",
        { class: "mappings", id: "mappings", oninput: () => updateRequiredHint(), onclick: () => updateRequiredHint() },
        mappingsBody,
      ),
      fieldList,
      requiredHint,
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
    preview.element,
    alerts.element,
    id ? null : h("div", { class: "field" }, h("label", { class: "radio" }, paused, " Create paused (the schedule starts on resume)")),
    problem,
    h("div", { class: "actions" }, submit, h("a", { class: "button", href: id ? `#/syncs/${id}` : "#/" }, "Cancel")),
  );

  updateSchedule();
  updateMode();
  updateDestinationHint();
  put(
    ctx.main,
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
  await Promise.all([loadColumns(existing ? existing.field_mappings : []), loadDestinationFields()]);
  updateRequiredHint();
}

/** The rules a new sync starts with (the API's defaults, src/alerts/rules.ts). @type {AlertRules} */
const DEFAULT_ALERTS = {
  channel_ids: null,
  on_failure: true,
  on_error_state: true,
  on_recovery: true,
  rows_failed_pct: null,
  row_count_change_pct: null,
  late_minutes: 60,
  max_duration_minutes: null,
};

/**
 * The form's alerts section: which channels (the workspace's defaults, or chosen ones), which
 * events, and the thresholds (empty: never).
 * @param {AlertChannel[]} channels the workspace's alert channels
 * @param {AlertRules | null} current
 * @returns {{ element: HTMLElement, value: () => AlertRules }}
 */
function alertsSection(channels, current) {
  const rules = current ?? DEFAULT_ALERTS;
  const own = rules.channel_ids !== null;
  const useDefaults = h("input", { type: "radio", name: "alert-channels", value: "default", checked: !own, onchange: () => update() });
  const useOwn = h("input", { type: "radio", name: "alert-channels", value: "own", checked: own, onchange: () => update() });
  const boxes = channels.map((c) => ({
    id: c.id,
    input: h("input", { type: "checkbox", name: "alert-channel", value: c.id, checked: rules.channel_ids?.includes(c.id) ?? false }),
    label: `${c.name} (${c.type})`,
  }));
  const chosen = h(
    "div",
    { class: "inline", id: "alert-channel-list" },
    boxes.length
      ? boxes.map((b) => h("label", { class: "radio" }, b.input, " ", b.label))
      : h("span", { class: "muted" }, "no channels yet"),
  );
  const update = () => {
    chosen.hidden = !useOwn.checked;
  };
  /** @param {"on_failure" | "on_error_state" | "on_recovery"} key */
  const flag = (key) => h("input", { type: "checkbox", name: key, checked: rules[key] });
  const flags = { on_failure: flag("on_failure"), on_error_state: flag("on_error_state"), on_recovery: flag("on_recovery") };
  /** @param {"rows_failed_pct" | "row_count_change_pct" | "late_minutes" | "max_duration_minutes"} key */
  const number = (key) =>
    h("input", {
      type: "number",
      name: key,
      min: key.endsWith("_pct") ? 0 : 1,
      placeholder: "off",
      value: rules[key] ?? "",
      style: "width:90px",
    });
  const numbers = {
    rows_failed_pct: number("rows_failed_pct"),
    row_count_change_pct: number("row_count_change_pct"),
    late_minutes: number("late_minutes"),
    max_duration_minutes: number("max_duration_minutes"),
  };
  /** @param {HTMLInputElement} input */
  const numberOf = (input) => (input.value.trim() === "" ? null : Number(input.value));
  update();
  const element = h(
    "fieldset",
    { id: "alerts" },
    h("legend", {}, "Alerts"),
    h(
      "div",
      { class: "field" },
      h("label", { class: "radio" }, useDefaults, " The workspace's default channels"),
      h("label", { class: "radio" }, useOwn, " These channels:"),
      chosen,
      h("div", { class: "hint" }, "Channels are set up on the ", h("a", { href: "#/alert-channels" }, "alert channels"), " page."),
    ),
    h(
      "div",
      { class: "field inline" },
      h("label", { class: "radio" }, flags.on_failure, " a run fails"),
      h("label", { class: "radio" }, flags.on_error_state, " the sync enters error"),
      h("label", { class: "radio" }, flags.on_recovery, " it recovers"),
    ),
    h(
      "div",
      { class: "field inline" },
      h("span", {}, "more than", numbers.rows_failed_pct, "% of the rows fail"),
      h("span", {}, "the row count moves more than", numbers.row_count_change_pct, "%"),
    ),
    h(
      "div",
      { class: "field inline" },
      h("span", {}, "a scheduled run is", numbers.late_minutes, "minutes late"),
      h("span", {}, "a run runs over", numbers.max_duration_minutes, "minutes"),
    ),
    h("div", { class: "hint" }, "Each alert fires once when the problem begins, and once more when the sync recovers. Empty: never."),
  );
  return {
    element,
    value: () => ({
      channel_ids: useOwn.checked ? boxes.filter((b) => b.input.checked).map((b) => b.id) : null,
      on_failure: flags.on_failure.checked,
      on_error_state: flags.on_error_state.checked,
      on_recovery: flags.on_recovery.checked,
      rows_failed_pct: numberOf(numbers.rows_failed_pct),
      row_count_change_pct: numberOf(numbers.row_count_change_pct),
      late_minutes: numberOf(numbers.late_minutes),
      max_duration_minutes: numberOf(numbers.max_duration_minutes),
    }),
  };
}
