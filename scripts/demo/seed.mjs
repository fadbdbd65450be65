// Seeds the local stack through the real API, idempotently: a source, a model and a webhook
// destination, found by name on later starts (and updated in place, e.g. when PORT changed).

/** Names the seed gives its objects; a restart finds them by these. */
export const SEED = {
  source: "Demo warehouse",
  ownSource: "Warehouse (WAREHOUSE_URL)",
  model: "Active customers",
  destination: "Demo CRM (webhook receiver)",
  sync: "Active Customers to CRM",
};

/** The model's SQL on the demo `customers` table. */
export const MODEL_SQL = `SELECT id, email, first_name, last_name, company, plan, country, lifetime_value, orders_count, updated_at
FROM customers
WHERE status <> 'churned'`;

/** Field mappings of the quickstart's example sync (model column → CRM field). */
export const EXAMPLE_MAPPINGS = [
  { source: "email", destination: "email" },
  { source: "first_name", destination: "firstName" },
  { source: "last_name", destination: "lastName" },
  { source: "company", destination: "company" },
  { source: "plan", destination: "plan" },
  { source: "lifetime_value", destination: "lifetimeValue" },
  { source: "country", destination: "country" },
];

/** A failed API call, with the API's own error message. */
export class ApiCallError extends Error {
  constructor(method, path, status, body) {
    const error = body && typeof body === "object" && body.error ? body.error : null;
    const message = error?.message ?? JSON.stringify(body);
    const details = (error?.details ?? []).filter((d) => !message.includes(d.message)).map((d) => `${d.path}: ${d.message}`);
    super(`${method} ${path} answered ${status}: ${message}${details.length ? ` (${details.join("; ")})` : ""}`);
    this.status = status;
    this.code = error?.code;
  }
}

/** A small client for /api/v1 with a Bearer token. */
export function apiClient(base, token) {
  return async function api(method, path, body) {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : null;
    if (!res.ok) throw new ApiCallError(method, path, res.status, parsed);
    return parsed;
  };
}

/** Resolves once the Worker answers on `base` (its OpenAPI document), or rejects after `timeoutMs`. */
export async function waitForApi(base, timeoutMs = 60_000, isAlive = () => true) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && isAlive()) {
    try {
      const res = await fetch(`${base}/api/v1/openapi.json`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the API did not answer on ${base} within ${timeoutMs / 1000} s`);
}

async function findByName(api, resource, name, query = "") {
  const list = await api("GET", `/${resource}?limit=200${query}`);
  return list.data.find((item) => item.name === name);
}

/**
 * Creates or updates the demo source, model and destination. With `demoWarehouse` false (a
 * WAREHOUSE_URL of your own) the model is skipped when the warehouse has no `customers` table.
 * @returns {Promise<{ source: object, model: object | null, modelProblem?: string, destination: object, sync: object | null }>}
 */
export async function seed(api, { warehouseUrl, hookUrl, demoWarehouse }) {
  const sourceName = demoWarehouse ? SEED.source : SEED.ownSource;
  let source = await findByName(api, "sources", sourceName);
  source = source
    ? await api("PUT", `/sources/${source.id}`, { connection_string: warehouseUrl })
    : await api("POST", "/sources", { name: sourceName, type: "postgres", connection_string: warehouseUrl });

  let model = await findByName(api, "models", SEED.model);
  let modelProblem;
  try {
    if (!model) model = await api("POST", "/models", { name: SEED.model, source_id: source.id, sql: MODEL_SQL, primary_key: "id" });
    else if (model.source_id !== source.id) model = await api("PUT", `/models/${model.id}`, { source_id: source.id });
  } catch (err) {
    if (demoWarehouse || !(err instanceof ApiCallError)) throw err;
    model = null;
    modelProblem = err.message;
  }

  const config = { url: hookUrl, batch_size: 500 };
  let destination = await findByName(api, "destinations", SEED.destination);
  destination = destination
    ? await api("PUT", `/destinations/${destination.id}`, { config })
    : await api("POST", "/destinations", { name: SEED.destination, type: "webhook", config });

  const sync = (await findByName(api, "syncs", SEED.sync)) ?? null;
  return { source, model, modelProblem, destination, sync };
}
