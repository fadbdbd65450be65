// @ts-check
// Form fields drawn from the API's OpenAPI document, so a new source or destination type gets its
// console form without console code: each variant of a request body's `oneOf` (told apart by its
// `type` enum) becomes a set of inputs, with required marks, enums, defaults, descriptions and
// examples from the schema. `writeOnly` fields and everything under `credentials` are secrets:
// password inputs, never pre-filled; on edit, blank keeps the stored value.
/** @import { ErrorDetail } from "./types.js" */
import { h, put } from "./dom.js";

/**
 * The part of a JSON Schema (OpenAPI 3.1) the forms read.
 * @typedef {{ type?: string | string[], properties?: Record<string, JsonSchema>, required?: string[],
 *   additionalProperties?: JsonSchema | boolean, oneOf?: JsonSchema[], anyOf?: JsonSchema[], allOf?: JsonSchema[],
 *   enum?: unknown[], default?: unknown, example?: unknown, description?: string, $ref?: string, writeOnly?: boolean,
 *   contentMediaType?: string, maxLength?: number, minimum?: number, maximum?: number }} JsonSchema
 */

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The schema `$ref` points at in `doc` (one level of components), else the schema itself.
 * @param {unknown} doc the OpenAPI document
 * @param {JsonSchema} schema
 * @returns {JsonSchema}
 */
function resolve(doc, schema) {
  let s = schema;
  for (let i = 0; i < 10 && s.$ref; i++) {
    const name = s.$ref.replace("#/components/schemas/", "");
    const components = isObject(doc) && isObject(doc.components) && isObject(doc.components.schemas) ? doc.components.schemas : {};
    const target = components[name];
    // Sibling keywords of a $ref (e.g. a description) override the target's.
    const { $ref: _ref, ...rest } = s;
    s = isObject(target) ? { .../** @type {JsonSchema} */ (target), ...rest } : rest;
  }
  if (s.allOf) {
    /** @type {JsonSchema} */
    let merged = { ...s, allOf: undefined };
    for (const part of s.allOf) {
      const r = resolve(doc, part);
      merged = {
        ...r,
        ...merged,
        properties: { ...r.properties, ...merged.properties },
        required: [...(r.required ?? []), ...(merged.required ?? [])],
      };
    }
    s = merged;
  }
  return s;
}

/**
 * A union of objects (e.g. credentials that are a key pair or a token) as one object whose fields
 * are all offered: required only where every alternative requires them; the API says which
 * combination it misses. Other schemas are returned as they are.
 * @param {unknown} doc
 * @param {JsonSchema} s
 * @returns {JsonSchema}
 */
function mergeAlternatives(doc, s) {
  const alternatives = (s.oneOf ?? s.anyOf ?? []).map((a) => resolve(doc, a)).filter((a) => !hasType(a, "null") || a.properties);
  if (alternatives.length === 0 || !alternatives.every((a) => a.properties)) return s;
  const names = alternatives.map((a) => Object.keys(a.properties ?? {}).join(" + "));
  return {
    ...s,
    oneOf: undefined,
    anyOf: undefined,
    type: "object",
    properties: Object.assign({}, ...alternatives.map((a) => a.properties)),
    required: (alternatives[0]?.required ?? []).filter((key) => alternatives.every((a) => a.required?.includes(key))),
    description: [s.description, `Give one of: ${names.join("; or ")}.`].filter(Boolean).join(" "),
  };
}

/** Whether a schema's type list names `type`. @param {JsonSchema} s @param {string} type */
const hasType = (s, type) => (Array.isArray(s.type) ? s.type.includes(type) : s.type === type);

/**
 * The variants of a request body: each `oneOf` branch by the single value of its `type` enum.
 * @param {unknown} doc the OpenAPI document
 * @param {string} name a component schema, e.g. "CreateSource"
 * @returns {Map<string, JsonSchema>} type → that type's body schema, in the document's order
 */
export function variantsOf(doc, name) {
  const body = resolve(doc, { $ref: `#/components/schemas/${name}` });
  const branches = body.oneOf ?? body.anyOf ?? [body];
  /** @type {Map<string, JsonSchema>} */
  const out = new Map();
  for (const raw of branches) {
    const branch = resolve(doc, raw);
    const type = branch.properties?.type ? resolve(doc, branch.properties.type).enum?.[0] : undefined;
    if (typeof type === "string") out.set(type, branch);
  }
  return out;
}

/**
 * One drawn input (or group of inputs) at a dotted body path.
 * @typedef {object} FieldNode
 * @property {string} path e.g. "config.url"
 * @property {HTMLElement} el what the form shows
 * @property {boolean} required whether the body must carry it
 * @property {() => boolean} blank nothing entered
 * @property {() => unknown} value what the body carries (undefined: leave it out)
 * @property {HTMLElement} error where this field's API error is shown
 */

/**
 * @typedef {object} DrawOptions
 * @property {unknown} doc the OpenAPI document
 * @property {boolean} editing an existing object: secrets are blank and kept when left blank
 * @property {Record<string, unknown>} values stored values to pre-fill (never secrets)
 * @property {Record<string, string>} masked what the API shows of stored secrets, by path
 * @property {FieldNode[]} drawn every node drawn so far, nested ones included (for {@link showFieldErrors})
 */

/** Words a label writes in capitals. */
const ACRONYMS = new Set(["url", "id", "api", "json", "sql", "ssl", "oauth", "ms"]);

/** "config.api_base" → "API base": a label from a property name. @param {string} path */
const labelOf = (path) => {
  const words = (path.split(".").pop() ?? path).split("_");
  return words.map((w, i) => (ACRONYMS.has(w) ? w.toUpperCase() : i === 0 ? w.replace(/^./, (c) => c.toUpperCase()) : w)).join(" ");
};

/** The value at a dotted path of nested objects. @param {Record<string, unknown>} values @param {string} path */
function at(values, path) {
  /** @type {unknown} */
  let v = values;
  for (const key of path.split(".")) v = isObject(v) ? v[key] : undefined;
  return v;
}

/** A DOM id for a body path. @param {string} path */
const fieldId = (path) => `field-${path.replace(/[^A-Za-z0-9_-]/g, "-")}`;

/**
 * Hint text: description, default and example.
 * @param {JsonSchema} s
 */
function hintOf(s) {
  const parts = [];
  if (s.description) parts.push(s.description);
  if (s.default !== undefined && !isObject(s.default)) parts.push(`Default: ${String(s.default)}.`);
  return parts.join(" ");
}

/** A text placeholder: the example, else the default. @param {JsonSchema} s */
function placeholderOf(s) {
  const sample = s.example ?? s.default;
  if (sample === undefined || isObject(sample)) return undefined;
  return `e.g. ${String(sample)}`;
}

/**
 * Draws the inputs of an object schema's properties (except `skip`).
 * @param {JsonSchema} schema an object schema
 * @param {string} prefix the body path of the object ("" for the body itself)
 * @param {boolean} secret whether everything inside is a secret
 * @param {DrawOptions} opts
 * @param {string[]} [skip] top-level properties drawn elsewhere (name, type)
 * @returns {FieldNode[]}
 */
export function drawProperties(schema, prefix, secret, opts, skip = []) {
  const s = resolve(opts.doc, schema);
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {})
    .filter(([key]) => !skip.includes(key))
    .map(([key, prop]) => {
      const node = drawField(prop, prefix ? `${prefix}.${key}` : key, required.has(key), secret, opts);
      opts.drawn.push(node);
      return node;
    });
}

/**
 * The body object of drawn fields: each one entered, or required.
 * @param {FieldNode[]} fields
 * @returns {Record<string, unknown>}
 */
export function collect(fields) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const f of fields) {
    const v = f.value();
    if (v !== undefined) out[f.path.split(".").pop() ?? f.path] = v;
  }
  return out;
}

/**
 * One property as an input, or a fieldset of inputs for a nested object.
 * @param {JsonSchema} raw
 * @param {string} path
 * @param {boolean} required
 * @param {boolean} secretAbove
 * @param {DrawOptions} opts
 * @returns {FieldNode}
 */
function drawField(raw, path, required, secretAbove, opts) {
  const s = mergeAlternatives(opts.doc, resolve(opts.doc, raw));
  const secret = secretAbove || s.writeOnly === true || path === "credentials" || path.endsWith(".credentials");
  const error = h("div", { class: "field-error", "data-error-for": path, role: "alert", hidden: true });
  const id = fieldId(path);
  const stored = secret ? undefined : at(opts.values, path);
  const label = h("label", { for: id }, labelOf(path), required ? h("span", { class: "req", title: "required" }, " *") : null);
  const hint = hintOf(s);
  const keep = secret && opts.editing;

  // A nested object with named properties: a fieldset, sent when anything in it is entered.
  if (s.properties && hasType(s, "object")) {
    const children = drawProperties(s, path, secret, opts);
    const blank = () => children.every((c) => c.blank());
    return {
      path,
      required,
      error,
      blank,
      // On edit, blank credentials are left out: the stored ones stay.
      value: () => (blank() && (!required || keep) ? undefined : collect(children)),
      el: h(
        "fieldset",
        { class: "nested", id, "data-path": path },
        h("legend", {}, labelOf(path), secret ? h("span", { class: "muted" }, " (secret)") : null),
        hint ? h("div", { class: "hint" }, hint) : null,
        keep ? h("div", { class: "hint" }, keepHint(opts.masked, path)) : null,
        children.map((c) => c.el),
        error,
      ),
    };
  }

  /** @type {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} */
  let input;
  /** @type {() => unknown} */
  let read;
  const common = { id, name: path, "aria-describedby": `${id}-hint` };
  if (s.enum && s.enum.length > 0) {
    const select = h(
      "select",
      common,
      required ? null : h("option", { value: "" }, s.default === undefined ? "—" : `— default (${String(s.default)}) —`),
      s.enum.map((v) => h("option", { value: String(v), selected: stored === v }, String(v))),
    );
    input = select;
    read = () => (select.value === "" ? undefined : (s.enum?.find((v) => String(v) === select.value) ?? select.value));
  } else if (hasType(s, "boolean")) {
    const select = h(
      "select",
      common,
      h("option", { value: "" }, s.default === undefined ? "—" : `— default (${String(s.default)}) —`),
      h("option", { value: "true", selected: stored === true }, "yes"),
      h("option", { value: "false", selected: stored === false }, "no"),
    );
    input = select;
    read = () => (select.value === "" ? undefined : select.value === "true");
  } else if (hasType(s, "integer") || hasType(s, "number")) {
    const num = h("input", {
      ...common,
      type: "number",
      step: hasType(s, "integer") ? 1 : "any",
      min: s.minimum,
      max: s.maximum,
      value: typeof stored === "number" ? stored : undefined,
      placeholder: placeholderOf(s),
    });
    input = num;
    read = () => (num.value.trim() === "" ? undefined : Number(num.value));
  } else if (hasType(s, "object") && isObject(s.additionalProperties)) {
    // A map of strings (e.g. HTTP headers): one "name: value" a line.
    const area = h("textarea", {
      ...common,
      rows: 3,
      cols: 60,
      class: secret ? "mono secret" : "mono",
      placeholder: "Name: value (one a line)",
      spellcheck: "false",
    });
    if (isObject(stored))
      area.value = Object.entries(stored)
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join("\n");
    input = area;
    read = () => {
      const lines = area.value.split("\n").filter((line) => line.trim() !== "");
      if (lines.length === 0) return undefined;
      return Object.fromEntries(
        lines.map((line) => {
          const colon = line.indexOf(":");
          return colon < 0 ? [line.trim(), ""] : [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
        }),
      );
    };
  } else if (hasType(s, "string") && !s.oneOf && !s.anyOf) {
    // A key file or other multi-line value (the schema says so with contentMediaType) gets a text area.
    const multiline = s.contentMediaType !== undefined;
    const text = multiline
      ? h("textarea", {
          ...common,
          rows: 5,
          cols: 70,
          class: secret ? "mono secret" : "mono",
          spellcheck: "false",
          placeholder: placeholderOf(s),
        })
      : h("input", {
          ...common,
          type: secret ? "password" : "text",
          size: 60,
          autocomplete: secret ? "new-password" : "off",
          maxlength: s.maxLength,
          placeholder: keep ? "unchanged: leave blank to keep" : placeholderOf(s),
        });
    if (typeof stored === "string") text.value = stored;
    input = text;
    // A required string left blank is sent empty, so that the API says what it must be.
    read = () => (text.value === "" ? (required && !keep ? "" : undefined) : text.value);
  } else {
    // Anything else (a union, an array): JSON, checked by the API.
    const area = h("textarea", { ...common, rows: 3, cols: 60, class: "mono", spellcheck: "false", placeholder: "JSON" });
    if (stored !== undefined) area.value = JSON.stringify(stored, null, 2);
    input = area;
    read = () => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value);
      } catch {
        return area.value;
      }
    };
  }
  const blank = () => input.value.trim() === "";
  return {
    path,
    required,
    error,
    blank,
    value: () => (blank() && !required ? undefined : read()),
    el: h(
      "div",
      { class: "field", "data-path": path },
      label,
      input,
      hint || keep ? h("div", { class: "hint", id: `${id}-hint` }, hint, keep ? ` ${keepHint(opts.masked, path)}` : null) : null,
      error,
    ),
  };
}

/** What an edit form says of a stored secret. @param {Record<string, string>} masked @param {string} path */
function keepHint(masked, path) {
  const shown = Object.entries(masked).filter(([p]) => p === path || p.startsWith(`${path}.`));
  const now =
    shown.length > 0 ? ` Stored: ${shown.map(([p, v]) => (p === path ? v : `${p.slice(path.length + 1)} ${v}`)).join(", ")}.` : "";
  return `Leave blank to keep the stored value.${now}`;
}

/**
 * Shows each API error next to the field its path names (the deepest drawn one); returns the
 * errors no field took, for the form's own alert.
 * @param {FieldNode[]} fields every drawn node, nested ones included (DrawOptions.drawn)
 * @param {ErrorDetail[]} details
 * @returns {ErrorDetail[]}
 */
export function showFieldErrors(fields, details) {
  for (const f of fields) {
    put(f.error);
    f.error.hidden = true;
    f.el.classList.remove("invalid");
  }
  /** @type {ErrorDetail[]} */
  const rest = [];
  for (const d of details) {
    const owner = fields
      .filter((f) => d.path === f.path || d.path.startsWith(`${f.path}.`))
      .sort((a, b) => b.path.length - a.path.length)[0];
    if (!owner) {
      rest.push(d);
      continue;
    }
    const sub = d.path === owner.path ? "" : `${d.path.slice(owner.path.length + 1)}: `;
    owner.error.append(h("div", {}, `${sub}${d.message}`));
    owner.error.hidden = false;
    owner.el.classList.add("invalid");
  }
  return rest;
}
