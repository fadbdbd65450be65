import { Cron } from "croner";

/** When a sync runs by itself. */
export type Schedule =
  | { type: "manual" }
  | { type: "interval"; interval_minutes: number }
  | { type: "cron"; expression: string; timezone: string };

/** Whether `tz` is an IANA time zone the runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Why a cron expression is invalid, or undefined when it is a valid 5-field expression. */
export function cronProblem(expression: string): string | undefined {
  if (expression.trim().split(/\s+/).length !== 5) {
    return "must have 5 fields: minute hour day-of-month month day-of-week";
  }
  try {
    const next = new Cron(expression, { mode: "5-part" }).nextRun();
    return next ? undefined : "never fires";
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * The first time strictly after `after` when the schedule fires, or null for manual schedules.
 * Cron times are wall-clock times in the schedule's time zone, DST-correct (croner): a time that a
 * spring-forward skips fires at the first valid instant; a time repeated by fall-back fires once.
 */
export function nextRunAt(schedule: Schedule, after: Date): Date | null {
  switch (schedule.type) {
    case "manual":
      return null;
    case "interval":
      return new Date(after.getTime() + schedule.interval_minutes * 60_000);
    case "cron":
      return new Cron(schedule.expression, { timezone: schedule.timezone, mode: "5-part" }).nextRun(after);
  }
}
