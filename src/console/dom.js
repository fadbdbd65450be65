// @ts-check
// DOM helpers shared by the views: element creation, child replacement, and the small widgets every
// view shows (status badge, relative time, error box, run progress).
/** @import { Run } from "./types.js" */
import { ApiError } from "./api.js";
import { localTime, relative, runProgress } from "./format.js";

/**
 * An attribute value; null, undefined and false leave the attribute out, true sets it empty.
 * @typedef {string | number | boolean | null | undefined} AttributeValue
 */

/**
 * Props of `h`: attributes, `on…` event listeners, `class`, and `dataset` entries.
 * @typedef {{ [name: string]: AttributeValue | ((event: Event) => unknown) | Record<string, string> }} Props
 */

/**
 * A child of `h` or `put`: a node, text, or nested arrays of them; null, undefined and false are skipped.
 * @typedef {Node | string | number | null | undefined | false | Child[]} Child
 */

/**
 * The nodes of `children`, flattened, with null, undefined and false dropped and text made text nodes.
 * @param {Child[]} children
 * @returns {Node[]}
 */
function nodes(children) {
  /** @type {Node[]} */
  const out = [];
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) out.push(...nodes(child));
    else out.push(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return out;
}

/**
 * Creates an element: h("a", { href, class, onclick }, "text", child, …). Strings become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {Child[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") {
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    } else if (typeof value === "object") {
      if (key === "dataset") Object.assign(el.dataset, value);
    } else if (key === "class") el.className = String(value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  el.append(...nodes(children));
  return el;
}

/**
 * Replaces the children of `el`, skipping null, undefined and false (replaceChildren would print them).
 * @param {Element} el
 * @param {Child[]} children
 */
export function put(el, ...children) {
  el.replaceChildren(...nodes(children));
}

/**
 * A sync's or run's status as a coloured pill.
 * @param {string} status
 * @param {Props} [extra] more attributes, e.g. an id
 */
export function badge(status, extra = {}) {
  return h("span", { class: `badge ${status}`, "data-status": status, ...extra }, status);
}

/** "3 h ago", with the local time as its tooltip. @param {string | null} iso */
export function timeCell(iso) {
  return h("span", { title: localTime(iso), class: "nowrap" }, relative(iso));
}

/** What an error (or any thrown value) says. @param {unknown} err */
function messageOf(err) {
  if (err instanceof Error) return err.message;
  if (typeof err === "object" && err !== null && "message" in err && err.message != null) return String(err.message);
  return String(err);
}

/**
 * An API (or any) error as an alert box: its message, each detail, the request id.
 * @param {unknown} err
 */
export function errorBox(err) {
  const isApi = err instanceof ApiError;
  return h(
    "div",
    { class: "alert", role: "alert" },
    h("strong", {}, messageOf(err)),
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

/**
 * A running run's phase in words, with a bar when its share done is known.
 * @param {Run} run
 * @param {number} expectedRows rows the extract phase expects (e.g. the previous run's), 0 if unknown
 */
export function progressCell(run, expectedRows) {
  const { label, fraction } = runProgress(run, expectedRows);
  return h(
    "span",
    { class: "progress", "data-progress": run.id },
    fraction === null ? null : h("span", { class: "bar" }, h("span", { style: `width:${Math.round(fraction * 100)}%` })),
    label,
  );
}
