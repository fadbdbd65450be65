import type { IncomingMessage, ServerResponse } from "node:http";

/** The request's body as UTF-8 text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (data += chunk));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

/** Answers `body` as JSON; `headers` may replace the content type with a vendor's own spelling. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/**
 * The fakes' tenants (workspace, account, portal, org…): each test takes one of its own, so tests
 * running at once never see each other's records. `of(name)` is the tenant's state, made by `fresh`
 * on first use; `route(url)` reads a vendor path `/t/{name}{path}` into that tenant and the path
 * under it, or undefined when the URL has no tenant.
 */
export function tenants<T>(fresh: (name: string) => T) {
  const all = new Map<string, T>();
  const of = (name: string): T => {
    let tenant = all.get(name);
    if (tenant === undefined) {
      tenant = fresh(name);
      all.set(name, tenant);
    }
    return tenant;
  };
  const route = (url: URL): { name: string; tenant: T; path: string } | undefined => {
    const match = /^\/t\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (!match?.[1] || !match[2]) return undefined;
    return { name: match[1], tenant: of(match[1]), path: match[2] };
  };
  return { of, route };
}
