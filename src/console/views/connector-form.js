// @ts-check
// #/sources/new, #/sources/{id}, #/destinations/new, #/destinations/{id}: a connector's form, its
// fields drawn from the API's OpenAPI document for the chosen type (see ../schema-form.js), saved
// with POST or PUT; a saved one can be tested. API errors are shown next to the field they name.
/** @import { ViewContext } from "../view-context.js" */
/** @import { ConnectorKind, Connector } from "./connectors.js" */
/** @import { FieldNode } from "../schema-form.js" */
import { ApiError, getOpenApi } from "../api.js";
import { errorBox, h, put } from "../dom.js";
import { collect, drawProperties, showFieldErrors, variantsOf } from "../schema-form.js";

/** What the page says after a save that moved here (a create lands on the new connector's page). */
let flash = "";

/**
 * @param {ViewContext} ctx
 * @param {ConnectorKind} kind
 * @param {string | null} id null for a new one
 */
export async function viewConnectorForm(ctx, kind, id) {
  const [doc, existing] = await Promise.all([getOpenApi(), id ? kind.get(id) : Promise.resolve(null)]);
  if (!ctx.alive()) return;
  const variants = variantsOf(doc, kind.schema);
  const types = [...variants.keys()];
  const savedNote = flash ? h("div", { class: "note", id: "flash" }, flash) : null;
  flash = "";

  const problem = h("div");
  const nameError = h("div", { class: "field-error", "data-error-for": "name", role: "alert", hidden: true });
  const name = h("input", { id: "field-name", name: "name", required: true, maxlength: 200, size: 50, value: existing?.name ?? "" });
  const nameField = h("div", { class: "field", "data-path": "name" }, h("label", { for: "field-name" }, "Name"), name, nameError);
  /** @type {FieldNode} */
  const nameNode = {
    path: "name",
    el: nameField,
    error: nameError,
    required: true,
    blank: () => !name.value.trim(),
    value: () => name.value.trim(),
  };
  const typeSelect = h(
    "select",
    { id: "field-type", name: "type", disabled: Boolean(existing), onchange: () => drawType() },
    types.map((t) => h("option", { value: t, selected: t === existing?.type }, t)),
  );
  const typeError = h("div", { class: "field-error", "data-error-for": "type", role: "alert", hidden: true });
  /** @type {FieldNode} */
  const typeNode = { path: "type", el: typeSelect, error: typeError, required: true, blank: () => false, value: () => typeSelect.value };
  const settings = h("div", { id: "settings" });
  /** @type {FieldNode[]} the type's top-level fields */
  let fields = [];
  /** @type {FieldNode[]} every drawn field, for errors */
  let drawn = [];

  const drawType = () => {
    const schema = variants.get(typeSelect.value);
    drawn = [];
    fields = schema
      ? drawProperties(
          schema,
          "",
          false,
          { doc, editing: Boolean(existing), values: existing ?? {}, masked: existing ? kind.masked(existing) : {}, drawn },
          ["name", "type"],
        )
      : [];
    put(
      settings,
      fields.map((f) => f.el),
    );
  };

  /** Shows an API error next to its fields; the rest in the form's alert. @param {unknown} err */
  const showError = (err) => {
    const details = err instanceof ApiError ? err.details : [];
    const rest = showFieldErrors([nameNode, typeNode, ...drawn], details);
    put(
      problem,
      details.length > 0 && rest.length === 0
        ? h("div", { class: "alert", role: "alert" }, h("strong", {}, "Check the fields marked below."))
        : errorBox(err),
    );
    (settings.querySelector(".invalid") ?? problem).scrollIntoView({ block: "nearest" });
  };

  const submit = h("button", { type: "submit", class: "primary" }, existing ? "Save changes" : `Create ${kind.noun}`);
  const testResult = h("span", { id: "test-result", role: "status" });
  const testButton = existing
    ? h(
        "button",
        {
          type: "button",
          name: "test",
          onclick: async () => {
            put(testResult, h("span", { class: "muted" }, "Testing…"));
            try {
              const r = await kind.test(existing.id);
              put(testResult, h("span", { class: r.ok ? "ok" : "bad", "data-ok": String(r.ok) }, r.text));
            } catch (err) {
              put(testResult);
              put(problem, errorBox(err));
            }
          },
        },
        "Test connection",
      )
    : null;

  const form = h(
    "form",
    {
      class: "connector",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        savedNote?.remove();
        put(problem);
        showFieldErrors([nameNode, typeNode, ...drawn], []);
        /** @type {Record<string, unknown>} */
        const body = existing
          ? { name: name.value.trim(), ...collect(fields) }
          : { name: name.value.trim(), type: typeSelect.value, ...collect(fields) };
        submit.disabled = true;
        try {
          /** @type {Connector} */
          const result = existing ? await kind.update(existing.id, body) : await kind.create(body);
          flash = existing ? "Saved." : `Created. Test the connection to check the ${kind.noun} is reachable.`;
          if (existing) await viewConnectorForm(ctx, kind, result.id);
          else location.hash = `#/${kind.plural}/${result.id}`;
        } catch (err) {
          showError(err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    nameField,
    h(
      "div",
      { class: "field" },
      h("label", { for: "field-type" }, "Type"),
      typeSelect,
      existing ? h("div", { class: "hint" }, `The type cannot change; create a new ${kind.noun} instead.`) : null,
      typeError,
    ),
    settings,
    problem,
    h("div", { class: "actions" }, submit, testButton, testResult, h("a", { class: "button", href: `#/${kind.plural}` }, "Back")),
  );
  drawType();
  put(
    ctx.main,
    h("div", { class: "crumb" }, h("a", { href: `#/${kind.plural}` }, kind.title), " / "),
    h("h1", {}, existing ? `Edit “${existing.name}”` : `New ${kind.noun}`),
    savedNote,
    form,
  );
}
