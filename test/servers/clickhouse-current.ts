/**
 * A fake ClickHouse HTTP interface that answers as current releases do (24.x, per
 * clickhouse.com/docs/interfaces/http), for what Debian's 18.16 cannot show: `EXPLAIN ESTIMATE`,
 * the `Bool` type, auth failures as code 516 with HTTP 403, the `Code: N. DB::Exception: … (NAME)
 * (version …)` text, an exception after rows were sent (plain and with the `__exception__` tag of
 * 24.11+), and 503 with Retry-After. User `retl`, password `pw`. Paths: `/<name>/` per test;
 * `/redirect/` answers 307 to a private address; `GET /<name>/_requests` lists the URL parameters each statement carried.
 */
import { createServer, type Server } from "node:http";
import { json, readBody } from "./http";

const VERSION = "24.8.4.13";
const exception = (code: number, name: string, message: string) =>
  `Code: ${code}. DB::Exception: ${message}. (${name}) (version ${VERSION})\n`;

/** Starts the fake server on 127.0.0.1. */
export function startFakeClickhouse(port = 0): Promise<{ server: Server; port: number }> {
  const requests = new Map<string, Record<string, string>[]>();
  const busy = new Set<string>();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const name = url.pathname.split("/")[1] ?? "";
    if (req.method === "GET" && url.pathname.endsWith("/_requests")) return json(res, 200, requests.get(name) ?? []);
    const sql = await readBody(req);
    if (name === "redirect") {
      res.writeHead(307, { location: "http://10.0.0.1:8123/" });
      return res.end();
    }
    const list = requests.get(name) ?? [];
    list.push(Object.fromEntries(url.searchParams));
    requests.set(name, list);
    const auth = Buffer.from((req.headers.authorization ?? "").replace(/^Basic /, ""), "base64").toString();
    const text = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "text/tab-separated-values; charset=UTF-8", ...headers });
      res.end(body);
    };
    if (auth !== "retl:pw")
      return text(
        403,
        exception(516, "AUTHENTICATION_FAILED", "retl: Authentication failed: password is incorrect, or there is no user with such name"),
        {
          "x-clickhouse-exception-code": "516",
        },
      );
    if (url.searchParams.get("readonly") !== "1" && /^\s*(INSERT|CREATE)/i.test(sql))
      return text(500, exception(164, "READONLY", "Cannot execute query in readonly mode"));
    if (/busy/.test(sql) && !busy.has(name)) {
      busy.add(name);
      return text(503, exception(202, "TOO_MANY_SIMULTANEOUS_QUERIES", "Too many simultaneous queries"), { "retry-after": "0" });
    }
    if (/^SELECT version\(\)/.test(sql)) return text(200, `${VERSION}\n`);
    if (/^EXPLAIN ESTIMATE/.test(sql)) return text(200, "default\tevents\t3\t1234\t2\ndefault\tusers\t1\t66\t1\n");
    if (/LIMIT 0 FORMAT TSVWithNamesAndTypes$/.test(sql)) return text(200, "id\tactive\nUInt32\tBool\n");
    if (/LIMIT \d+ FORMAT TSVWithNamesAndTypes$/.test(sql)) return text(200, "id\tactive\nUInt32\tBool\n1\ttrue\n2\tfalse\n");
    // Rows, then the failure: the status was sent with the first block.
    res.writeHead(200, { "content-type": "text/tab-separated-values; charset=UTF-8", "x-clickhouse-exception-tag": "fkqwmrlrhdcpcwam" });
    res.write("1\ttrue\n2\tfalse\n");
    if (/midstream/.test(sql)) return res.end(exception(159, "TIMEOUT_EXCEEDED", "Timeout exceeded: elapsed 1.000 seconds, maximum: 1"));
    if (/tagged/.test(sql)) {
      const message = exception(241, "MEMORY_LIMIT_EXCEEDED", "Memory limit (for query) exceeded");
      return res.end(`__exception__\r\nfkqwmrlrhdcpcwam\r\n${message}${message.length} fkqwmrlrhdcpcwam\r\n__exception__\r\n`);
    }
    res.end("3\ttrue\n");
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}
