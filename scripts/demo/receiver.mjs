// The demo destination of `npm start`: a local webhook receiver that plays a CRM. It applies the
// webhook connector's batches (`{"operations":[{"op","key","fields"}]}`) to a table of records,
// keeps the last requests, and shows both at / (HTML) and /records.json, /requests.json (JSON).
// Records are saved to a JSON file so they survive a restart, like the Worker's local snapshots.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";

const KEPT_REQUESTS = 50;

/**
 * Starts the receiver on 127.0.0.1:`port`. POST /hook applies a batch; GET / shows the records.
 * @param {{ port: number, file?: string }} options
 * @returns {Promise<{ url: string, hookUrl: string, stop: () => Promise<void> }>}
 */
export function startDemoReceiver({ port, file }) {
  /** @type {Map<string, { fields: Record<string, unknown>, created_at: string, updated_at: string }>} */
  const records = new Map();
  /** @type {Array<Record<string, unknown>>} */
  const requests = [];
  if (file && existsSync(file)) {
    try {
      const saved = JSON.parse(readFileSync(file, "utf8"));
      for (const [key, value] of Object.entries(saved.records ?? {})) records.set(key, value);
    } catch {
      // a torn file: start empty
    }
  }
  let saveTimer = null;
  const save = () => {
    if (!file || saveTimer) return;
    saveTimer = setTimeout(() => {
      saveTimer = null;
      writeFileSync(`${file}.tmp`, JSON.stringify({ records: Object.fromEntries(records) }));
      renameSync(`${file}.tmp`, file);
    }, 200);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    const json = (status, body) => {
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(body, null, 2));
    };
    if (req.method === "POST" && url.pathname === "/hook") {
      let raw = "";
      req.setEncoding("utf8");
      req.on("data", (chunk) => (raw += chunk));
      req.on("end", () => {
        let body;
        try {
          body = JSON.parse(raw);
        } catch {
          return json(400, { error: "body is not JSON" });
        }
        const operations = Array.isArray(body.operations) ? body.operations : [];
        /** @type {Record<string, number>} */
        const counts = {};
        const now = new Date().toISOString();
        for (const op of operations) {
          const key = String(op.key);
          if (op.op === "delete") records.delete(key);
          else records.set(key, { fields: op.fields ?? {}, created_at: records.get(key)?.created_at ?? now, updated_at: now });
          counts[op.op] = (counts[op.op] ?? 0) + 1;
        }
        requests.unshift({
          at: now,
          sync_id: body.sync_id,
          run_id: body.run_id,
          batch_id: body.batch_id,
          operations: operations.length,
          by_kind: counts,
        });
        requests.length = Math.min(requests.length, KEPT_REQUESTS);
        save();
        json(200, { results: operations.map((op) => ({ key: String(op.key), ok: true })) });
      });
      return;
    }
    if (req.method === "GET" && url.pathname === "/records.json") {
      return json(200, { count: records.size, records: Object.fromEntries(records) });
    }
    if (req.method === "GET" && url.pathname === "/requests.json") return json(200, { requests });
    if (req.method === "GET" && url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      return res.end(page(records, requests, url.searchParams.get("q") ?? ""));
    }
    json(404, { error: "POST /hook, or GET /, /records.json, /requests.json" });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${port}`,
        hookUrl: `http://127.0.0.1:${port}/hook`,
        stop: () =>
          new Promise((done) => {
            if (saveTimer) {
              clearTimeout(saveTimer);
              saveTimer = null;
              if (file) writeFileSync(file, JSON.stringify({ records: Object.fromEntries(records) }));
            }
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

const escapeHtml = (s) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** The HTML view: last requests and the (filtered, first 200) records. */
function page(records, requests, q) {
  const needle = q.toLowerCase();
  const all = [...records.entries()].sort(([a], [b]) => a.length - b.length || (a < b ? -1 : 1));
  const shown = (needle ? all.filter(([k, r]) => `${k} ${JSON.stringify(r.fields)}`.toLowerCase().includes(needle)) : all).slice(0, 200);
  const fields = [...new Set(shown.flatMap(([, r]) => Object.keys(r.fields)))];
  const rows = shown
    .map(
      ([key, r]) =>
        `<tr><td>${escapeHtml(key)}</td>${fields.map((f) => `<td>${escapeHtml(r.fields[f])}</td>`).join("")}<td>${escapeHtml(r.updated_at)}</td></tr>`,
    )
    .join("");
  const log = requests
    .slice(0, 10)
    .map((r) => {
      const kinds = Object.entries(r.by_kind)
        .map(([op, n]) => `${n} ${op}`)
        .join(", ");
      return `<tr><td>${escapeHtml(r.at)}</td><td>${escapeHtml(r.run_id)}</td><td>${escapeHtml(r.batch_id)}</td><td>${r.operations}</td><td>${escapeHtml(kinds)}</td></tr>`;
    })
    .join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo CRM (webhook receiver)</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#1f2937}table{border-collapse:collapse;margin:8px 0 24px}
td,th{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left;white-space:nowrap}th{background:#f9fafb}
code{background:#f3f4f6;padding:1px 4px;border-radius:3px}</style></head><body>
<h1>Demo CRM</h1><p>What the webhook destination received: <b>${records.size.toLocaleString("en")}</b> records.
JSON: <a href="/records.json">/records.json</a>, <a href="/requests.json">/requests.json</a>.</p>
<h2>Last requests</h2><table><tr><th>at</th><th>run</th><th>batch</th><th>operations</th><th>by kind</th></tr>${log}</table>
<h2>Records</h2><form><input name="q" value="${escapeHtml(q)}" placeholder="search key or field"> <button>Search</button></form>
<p>${shown.length < all.length ? `showing ${shown.length} of ${needle ? "matching " : ""}records` : ""}</p>
<table><tr><th>key</th>${fields.map((f) => `<th>${escapeHtml(f)}</th>`).join("")}<th>updated</th></tr>${rows}</table></body></html>`;
}
