/** One structured JSON log line (Workers Logs indexes the fields). */
export function log(event: string, fields: Record<string, unknown> = {}, level: "info" | "warn" | "error" = "info"): void {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
