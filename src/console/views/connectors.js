// @ts-check
// Sources and destinations, the two kinds of connector: what tells them apart (API calls, the
// OpenAPI body schema their form is drawn from, how a test result reads), and their list pages
// #/sources and #/destinations.
/** @import { ViewContext } from "../view-context.js" */
import {
  createDestination,
  createSource,
  getDestination,
  getSource,
  listDestinations,
  listSources,
  testDestination,
  testSource,
  updateDestination,
  updateSource,
} from "../api.js";
import { h, put, timeCell } from "../dom.js";

/**
 * A saved connector as both kinds return it.
 * @typedef {{ id: string, name: string, type: string, config: Record<string, unknown>, updated_at: string }} Connector
 */

/**
 * @typedef {object} ConnectorKind
 * @property {string} noun "source"
 * @property {string} plural "sources", also the route: #/sources
 * @property {string} title "Sources"
 * @property {string} schema the OpenAPI component of the create body, a oneOf by `type`
 * @property {string} intro what the list page says the kind is for
 * @property {() => Promise<Connector[]>} list
 * @property {(id: string) => Promise<Connector>} get
 * @property {(body: Record<string, unknown>) => Promise<Connector>} create
 * @property {(id: string, body: Record<string, unknown>) => Promise<Connector>} update
 * @property {(id: string) => Promise<{ ok: boolean, text: string }>} test
 * @property {(item: Connector) => Record<string, string>} masked what the API shows of the stored secrets, by body path
 * @property {(item: Connector) => string} summary where it points, for the list
 */

/** Config values worth a list cell: the non-empty strings, e.g. a URL, a database, a table. @param {Record<string, unknown>} config */
const configSummary = (config) =>
  Object.values(config)
    .filter((v) => typeof v === "string" && v !== "")
    .slice(0, 3)
    .join(" · ");

/** @type {ConnectorKind} */
export const SOURCES = {
  noun: "source",
  plural: "sources",
  title: "Sources",
  schema: "CreateSource",
  intro: "The warehouses models read from.",
  list: listSources,
  get: getSource,
  create: createSource,
  update: updateSource,
  test: async (id) => {
    const r = await testSource(id);
    if (!r.ok) return { ok: false, text: `Failed: ${r.error ? `${r.error.message} (${r.error.code})` : "no reason given"}` };
    const details = [r.server_version, r.latency_ms === undefined ? undefined : `${r.latency_ms} ms`].filter(Boolean);
    return { ok: true, text: `Connected${details.length ? ` · ${details.join(" · ")}` : ""}` };
  },
  // Types that take a connection string return it masked; the others return only config.
  masked: (item) => {
    const cs = /** @type {{ connection_string?: string }} */ (item).connection_string;
    /** @type {Record<string, string>} */
    const shown = {};
    if (cs) shown.connection_string = cs;
    return shown;
  },
  summary: (item) => /** @type {{ connection_string?: string }} */ (item).connection_string || configSummary(item.config),
};

/** @type {ConnectorKind} */
export const DESTINATIONS = {
  noun: "destination",
  plural: "destinations",
  title: "Destinations",
  schema: "CreateDestination",
  intro: "The business tools syncs write to.",
  list: listDestinations,
  get: getDestination,
  create: createDestination,
  update: updateDestination,
  test: async (id) => {
    const r = await testDestination(id);
    return r.ok ? { ok: true, text: "Connected" } : { ok: false, text: `Failed: ${r.error ?? "no reason given"}` };
  },
  masked: (item) => {
    const credentials = /** @type {{ credentials?: Record<string, string> | null }} */ (item).credentials ?? {};
    return Object.fromEntries(Object.entries(credentials).map(([k, v]) => [`credentials.${k}`, v]));
  },
  summary: (item) => configSummary(item.config),
};

/**
 * The list page of a kind: every one of them, newest first, each linking to its form.
 * @param {ViewContext} ctx
 * @param {ConnectorKind} kind
 */
export async function viewConnectors(ctx, kind) {
  const items = await kind.list();
  if (!ctx.alive()) return;
  put(
    ctx.main,
    h("h1", {}, kind.title),
    h("p", { class: "muted" }, kind.intro),
    h("div", { class: "actions" }, h("a", { class: "button primary", href: `#/${kind.plural}/new` }, `New ${kind.noun}`)),
    items.length === 0
      ? h("p", { class: "muted", id: `no-${kind.plural}` }, `No ${kind.plural} yet.`)
      : h(
          "table",
          { id: kind.plural },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Where"), h("th", {}, "Updated"))),
          h(
            "tbody",
            {},
            items.map((item) =>
              h(
                "tr",
                { "data-id": item.id },
                h("td", {}, h("a", { href: `#/${kind.plural}/${item.id}` }, item.name)),
                h("td", {}, item.type),
                h("td", { class: "mono" }, kind.summary(item)),
                h("td", {}, timeCell(item.updated_at)),
              ),
            ),
          ),
        ),
  );
}
