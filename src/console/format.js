// @ts-check
// Pure formatting helpers of the console: schedules in words, times, durations, CSV.
/** @import { Run, Schedule } from "./types.js" */

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** @param {number} n @param {string} unit */
const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
/** @param {number} n */
const two = (n) => String(n).padStart(2, "0");
/** @param {string} s */
const isInt = (s) => /^\d+$/.test(s);

/**
 * A schedule in words: "manual only", "every 60 minutes", "every day at 06:00 Europe/Berlin".
 * @param {Schedule | null | undefined} schedule
 */
export function scheduleInWords(schedule) {
  if (!schedule || schedule.type === "manual") return "manual only";
  if (schedule.type === "interval") return intervalInWords(schedule.interval_minutes ?? 0);
  if (schedule.type === "cron") {
    const tz = schedule.timezone || "UTC";
    const words = cronInWords(schedule.expression ?? "", tz);
    return words ?? `cron "${schedule.expression}" (${tz})`;
  }
  return "unknown schedule";
}

/** "every minute", "every 60 minutes", "every 2 hours", "every day", "every 3 days". @param {number} minutes */
function intervalInWords(minutes) {
  if (minutes === 1) return "every minute";
  if (minutes >= 1440 && minutes % 1440 === 0) return minutes === 1440 ? "every day" : `every ${minutes / 1440} days`;
  if (minutes >= 120 && minutes % 60 === 0) return `every ${minutes / 60} hours`;
  return `every ${minutes} minutes`;
}

/**
 * Common 5-field cron shapes in words; undefined for anything else.
 * @param {string} expression
 * @param {string} tz
 * @returns {string | undefined}
 */
function cronInWords(expression, tz) {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) return undefined;
  const [min = "", hour = "", dom = "", month = "", dow = ""] = parts;
  const zone = tz ? ` ${tz}` : "";
  // every N minutes / every minute
  if (hour === "*" && dom === "*" && month === "*" && dow === "*") {
    if (min === "*") return "every minute";
    const step = /^\*\/(\d+)$/.exec(min);
    if (step) return `every ${plural(Number(step[1]), "minute")}`;
    if (isInt(min)) return `every hour at minute ${Number(min)}`;
    return undefined;
  }
  if (!isInt(min)) return undefined;
  const hourStep = /^\*\/(\d+)$/.exec(hour);
  if (hourStep && dom === "*" && month === "*" && dow === "*") {
    return `every ${plural(Number(hourStep[1]), "hour")} at minute ${Number(min)}${zone ? ` (${tz})` : ""}`;
  }
  const hours = hour.split(",");
  if (!hours.every(isInt)) return undefined;
  const at = `at ${hours.map((h) => `${two(Number(h))}:${two(Number(min))}`).join(" and ")}${zone}`;
  let days;
  if (dom === "*" && dow === "*") days = "every day";
  else if (dom === "*" && (dow === "1-5" || dow === "MON-FRI")) days = "every weekday";
  else if (dom === "*" && (dow === "0,6" || dow === "6,0" || dow === "SAT,SUN")) days = "every Saturday and Sunday";
  else if (dom === "*" && dow.split(",").every((d) => isInt(d) && Number(d) <= 7)) {
    days = `every ${dow
      .split(",")
      .map((d) => DAYS[Number(d) % 7])
      .join(" and ")}`;
  } else if (dow === "*" && isInt(dom)) days = `on day ${Number(dom)} of every month`;
  else return undefined;
  if (month !== "*") {
    if (!isInt(month) || Number(month) < 1 || Number(month) > 12) return undefined;
    days = `${days} in ${MONTHS[Number(month) - 1]}`;
  }
  return `${days} ${at}`;
}

/** "3.4 s", "2 min 5 s", "1 h 3 min"; "—" for null. @param {number | null | undefined} ms */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "in 59 min", "3 h ago", "just now", relative to `now`. @param {string | null | undefined} iso */
export function relative(iso, now = Date.now()) {
  if (!iso) return "—";
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  const phrase =
    abs < 45_000
      ? null
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 86_400_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} d`;
  if (!phrase) return diff > 0 ? "in a moment" : "just now";
  return diff > 0 ? `in ${phrase}` : `${phrase} ago`;
}

/** A timestamp in the browser's locale and time zone. @param {string | null | undefined} iso */
export function localTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** Thousands separators. @param {unknown} n */
export function count(n) {
  return typeof n === "number" ? n.toLocaleString("en") : "—";
}

/**
 * RFC 4180 CSV of `rows` with the given columns (header first).
 * @template {string} C
 * @param {C[]} columns
 * @param {Record<C, unknown>[]} rows
 */
export function toCsv(columns, rows) {
  /** @param {unknown} v */
  const cell = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return `${[columns, ...rows.map((r) => columns.map((c) => r[c]))].map((line) => line.map(cell).join(",")).join("\r\n")}\r\n`;
}

/**
 * A running run's progress: the current phase and how far it got, from its `progress` counters.
 * `expectedRows` (e.g. the previous run's rows) gives the extract phase a fraction.
 * @param {Run} run
 * @param {number} [expectedRows]
 * @returns {{ label: string, fraction: number | null }}
 */
export function runProgress(run, expectedRows = 0) {
  const p = run.progress ?? {};
  /** @param {number} done @param {number} total */
  const frac = (done, total) => (total > 0 ? Math.min(1, done / total) : null);
  switch (run.phase) {
    case "queued":
      return { label: "waiting for the run before it", fraction: null };
    case "extract":
      return { label: `reading rows · ${count(p.rows_read ?? 0)} read`, fraction: frac(p.rows_read ?? 0, expectedRows) };
    case "diff":
      return {
        label: `comparing · ${p.partitions_diffed ?? 0}/${p.partitions ?? "?"} partitions`,
        fraction: frac(p.partitions_diffed ?? 0, p.partitions ?? 0),
      };
    case "deliver":
      return {
        label: `sending · ${p.batches_acknowledged ?? 0}/${p.batches_sent ?? "?"} batches`,
        fraction: frac(p.batches_acknowledged ?? 0, p.batches_sent ?? 0),
      };
    case "commit":
      return {
        label: `saving snapshot · ${p.partitions_committed ?? 0}/${p.partitions ?? "?"}`,
        fraction: frac(p.partitions_committed ?? 0, p.partitions ?? 0),
      };
    default:
      return { label: run.phase, fraction: null };
  }
}
