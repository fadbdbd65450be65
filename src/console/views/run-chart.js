// @ts-check
// A chart of a sync's recent runs, drawn as SVG here (no chart library, no CDN): per run a stacked
// bar of rows created, updated, deleted and failed, and the run's duration as a line on its own
// scale. Dry runs and unfinished runs are left out: they changed nothing yet.
/** @import { Run } from "../types.js" */
import { count, duration } from "../format.js";
import { isFinal } from "../vocabulary.js";

const SVG = "http://www.w3.org/2000/svg";
/** The bar segments, bottom up, with their colours. */
const SERIES = /** @type {const} */ ([
  ["rows_created", "created", "#059669"],
  ["rows_updated", "updated", "#4f46e5"],
  ["rows_deleted", "deleted", "#d97706"],
  ["rows_failed", "failed", "#dc2626"],
]);
const WIDTH = 720;
const HEIGHT = 200;
const PAD = { left: 56, right: 56, top: 12, bottom: 28 };

/**
 * An SVG element with attributes and children.
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {(Node | string)[]} children
 * @returns {SVGElement}
 */
function s(tag, attrs, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** A round axis maximum at or above `n` (1, 2, 5 × 10^k). @param {number} n */
function niceMax(n) {
  if (n <= 0) return 1;
  const base = 10 ** Math.floor(Math.log10(n));
  return ([1, 2, 5, 10].find((m) => m * base >= n) ?? 10) * base;
}

/**
 * The chart of the runs (newest first, as the API lists them), oldest on the left; null when no
 * run has finished yet.
 * @param {Run[]} runs
 * @returns {SVGElement | null}
 */
export function runChart(runs) {
  const shown = runs.filter((r) => isFinal(r.status) && !r.options?.dry_run).reverse();
  if (shown.length === 0) return null;
  const total = (/** @type {Run} */ r) => SERIES.reduce((sum, [field]) => sum + r[field], 0);
  const rowsMax = niceMax(Math.max(...shown.map(total)));
  const msMax = niceMax(Math.max(...shown.map((r) => r.duration_ms ?? 0)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / shown.length;
  const barW = Math.max(2, Math.min(28, slot * 0.6));
  const y = (/** @type {number} */ rows) => PAD.top + plotH - (rows / rowsMax) * plotH;
  const yMs = (/** @type {number} */ ms) => PAD.top + plotH - (ms / msMax) * plotH;

  const bars = shown.map((r, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    let base = 0;
    const segments = SERIES.filter(([field]) => r[field] > 0).map(([field, label, colour]) => {
      const top = base + r[field];
      const rect = s("rect", { x, y: y(top), width: barW, height: Math.max(0.5, y(base) - y(top)), fill: colour, "data-series": label });
      base = top;
      return rect;
    });
    const words = SERIES.map(([field, label]) => `${count(r[field])} ${label}`).join(", ");
    return s(
      "g",
      { class: "run-bar", "data-run": r.id },
      s("title", {}, `${r.id} (${r.status}): ${words}; ${duration(r.duration_ms)}`),
      // A transparent full-height target, so a run without changes still shows its tooltip.
      s("rect", { x, y: PAD.top, width: barW, height: plotH, fill: "transparent" }),
      ...segments,
    );
  });
  const points = shown.map((r, i) => `${PAD.left + i * slot + slot / 2},${yMs(r.duration_ms ?? 0)}`);
  const axisText = (/** @type {number} */ x, /** @type {number} */ yy, /** @type {string} */ text, anchor = "end") =>
    s("text", { x, y: yy, "text-anchor": anchor, "font-size": 11, fill: "#6b7280" }, text);
  /** @type {[string, string][]} */
  const keys = [...SERIES.map(([, label, colour]) => /** @type {[string, string]} */ ([label, colour])), ["duration", "#111827"]];
  const legend = keys.map(([label, colour], i) =>
    s(
      "g",
      { transform: `translate(${PAD.left + i * 90},${HEIGHT - 8})` },
      s("rect", { x: 0, y: -9, width: 10, height: 10, fill: colour }),
      s("text", { x: 14, y: 0, "font-size": 11, fill: "#374151" }, label),
    ),
  );
  return s(
    "svg",
    {
      id: "runs-chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      width: "100%",
      role: "img",
      "aria-label": `Rows and duration of the last ${shown.length} runs`,
    },
    s("line", { x1: PAD.left, y1: PAD.top + plotH, x2: PAD.left + plotW, y2: PAD.top + plotH, stroke: "#e5e7eb" }),
    axisText(PAD.left - 6, PAD.top + 10, count(rowsMax)),
    axisText(PAD.left - 6, PAD.top + plotH, "0 rows"),
    axisText(PAD.left + plotW + 6, PAD.top + 10, duration(msMax), "start"),
    axisText(PAD.left + plotW + 6, PAD.top + plotH, "0 s", "start"),
    ...bars,
    s("polyline", { points: points.join(" "), fill: "none", stroke: "#111827", "stroke-width": 1.5, "data-series": "duration" }),
    ...shown.map((r, i) => s("circle", { cx: PAD.left + i * slot + slot / 2, cy: yMs(r.duration_ms ?? 0), r: 2.5, fill: "#111827" })),
    ...legend,
  );
}
