// Over 400 lines: one bad-input case per kind of input (JSON, types, sizes, ids, cron, SQL) over every operation of the OpenAPI document.
/**
 * Bad-input sweep, driven by the live OpenAPI document: every operation is fed malformed and
 * wrongly shaped bodies, wrong types, missing and unknown fields, oversized bodies and strings,
 * invalid path ids and query parameters. Every answer must be a 4xx error envelope (never a 500),
 * validation errors must name the field, and a refused request must leave D1 exactly as it was.
 * Over 400 lines: one sweep per kind of bad input over the same fixtures, read as one checklist.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/app";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { WAREHOUSE_URL } from "../harness";
import { customersTable, pg, waitForRun, webhookState } from "../harness/run";
import { createFixtures, otherTypeId, pathValues, sampleBodies, type Fixtures } from "./fixtures";
import {
  acceptedTypes,
  appWithEnv,
  errorCode,
  fieldsOf,
  fillPath,
  type Json,
  loadOperations,
  namesPath,
  type OpenApiDoc,
  type Operation,
  pool,
  Recorder,
  resolve,
  send,
  type SendOptions,
  variantFor,
  withValue,
  workspaceCounts,
  workspaceSnapshot,
  wrongValues,
} from "./sweep";

let doc: OpenApiDoc;
let operations: Operation[];
let f: Fixtures;
let samples: Record<string, Json>;

beforeAll(async () => {
  ({ doc, operations } = await loadOperations());
  f = await createFixtures();
  samples = sampleBodies(f);
});

const dotted = (path: (string | number)[]) => path.map(String).join(".");
const isWrite = (op: Operation) => op.method !== "GET" && op.method !== "HEAD";

interface Want {
  status?: number[];
  code?: string;
  field?: string;
}

/**
 * Bad requests to one operation, sent a few at a time. Each must be refused: a 4xx (never 2xx or
 * 5xx), the wanted status and code, the named field in details. A write operation's batch must
 * leave the workspace's D1 rows exactly as they were; if it did not, the cases are replayed one
 * by one to name the culprit.
 */
class Refusals {
  private readonly cases: { label: string; path: string; opts: () => SendOptions; want: Want }[] = [];

  constructor(
    private readonly rec: Recorder,
    private readonly op: Operation,
  ) {}

  add(label: string, path: string, opts: SendOptions | (() => SendOptions), want: Want = {}): void {
    this.cases.push({ label, path, opts: typeof opts === "function" ? opts : () => opts, want });
  }

  async run(): Promise<void> {
    const { rec, op } = this;
    const write = isWrite(op);
    const before = write ? await workspaceSnapshot(f.workspaceId) : "";
    await pool(this.cases, 16, async (c) => {
      const where = `${op.operationId} ${c.label}`;
      const res = await rec.send(where, op.operationId, op.method, c.path, { token: f.token, ...c.opts() });
      rec.check(res.status >= 400 && res.status < 500, where, `expected a 4xx, got ${res.status} ${res.text.slice(0, 200)}`);
      if (c.want.status)
        rec.check(
          c.want.status.includes(res.status),
          where,
          `expected ${c.want.status.join("/")}, got ${res.status} ${res.text.slice(0, 200)}`,
        );
      if (c.want.code)
        rec.check(errorCode(res) === c.want.code, where, `expected ${c.want.code}, got ${errorCode(res)} ${res.text.slice(0, 200)}`);
      if (c.want.field !== undefined && res.status === 400) {
        rec.check(namesPath(res, c.want.field), where, `details do not name "${c.want.field}": ${res.text.slice(0, 300)}`);
      }
    });
    if (write && (await workspaceSnapshot(f.workspaceId)) !== before) {
      for (const c of this.cases) {
        const snap = await workspaceSnapshot(f.workspaceId);
        await send(op.method, c.path, { token: f.token, ...c.opts() });
        if ((await workspaceSnapshot(f.workspaceId)) !== snap)
          rec.check(false, `${op.operationId} ${c.label}`, "the refused request changed D1");
      }
      rec.check(false, op.operationId, "refused requests changed D1");
    }
    this.cases.length = 0;
  }
}

function fixturePath(op: Operation): string {
  const values = pathValues(op.path, f);
  if (typeof values === "string") throw new Error(values);
  return fillPath(op.path, values);
}

describe("bad input sweep (OpenAPI-driven)", () => {
  it("has a valid sample body for every operation that takes one, and each sample is accepted", async () => {
    const rec = new Recorder("bad-input/samples");
    for (const op of operations.filter((o) => o.body)) {
      const sample = samples[op.operationId];
      rec.check(sample !== undefined, op.operationId, "no sample body in test/sweeps/fixtures.ts sampleBodies");
      if (sample === undefined) continue;
      // Against a missing object, a valid body gets through validation to the 404; creates really create.
      const path = op.pathParams.length ? fillPath(op.path, Object.fromEntries(op.pathParams.map((p) => [p, "missing_0000"]))) : op.path;
      const res = await rec.send(`${op.operationId} sample`, op.operationId, op.method, path, { token: f.token, body: sample });
      const want = op.pathParams.length ? 404 : op.success;
      rec.check(res.status === want, op.operationId, `sample answered ${res.status}, expected ${want}: ${res.text.slice(0, 300)}`);
    }
    rec.summary();
    expect(rec.problems).toEqual([]);
  });

  it("refuses every malformed, mistyped, incomplete, unknown or oversized body, naming the field, and writes nothing", async () => {
    const rec = new Recorder("bad-input/bodies");
    const counts = await workspaceCounts(f.workspaceId);
    let fieldCases = 0;
    for (const op of operations.filter((o) => o.body && !o.public)) {
      const path = fixturePath(op);
      const cases = new Refusals(rec, op);
      const sample = samples[op.operationId] ?? {};
      const json = (body: Json | undefined) => (body === undefined ? {} : { body });

      // Malformed JSON and JSON that is not an object.
      const malformed = ['{"name": ', "{'name': 'x'}", '{"a":1}}', '{"a":1,}', "nul", "\u0000", "NaN", '{"a":"\\x41"}', "\ufeff{"];
      if (op.body?.required) malformed.push("", " ");
      for (const raw of malformed) cases.add(`malformed ${JSON.stringify(raw)}`, path, { raw }, { status: [400] });
      for (const value of [[], [sample], "a string", 42, true, null] as Json[]) {
        cases.add(`top-level ${JSON.stringify(value).slice(0, 20)}`, path, json(value), { status: [400] });
      }

      // Content types other than JSON, including ones that merely start like it.
      for (const type of [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json-patch+json",
        "application/jsonx",
        "application/xml",
      ]) {
        cases.add(`content-type ${type}`, path, { raw: JSON.stringify(sample), headers: { "content-type": type } }, { status: [400, 415] });
      }

      // Oversized bodies, with and without a Content-Length.
      const huge = JSON.stringify({ ...(sample as Record<string, Json>), padding: "x".repeat(MAX_BODY_BYTES + 10) });
      cases.add("oversized body", path, { raw: huge }, { status: [413], code: "payload_too_large" });
      cases.add("oversized streamed body", path, () => ({ raw: new Blob([huge]).stream() }), { status: [413], code: "payload_too_large" });

      // Deep nesting where a scalar belongs.
      const deep = "[".repeat(5000) + "]".repeat(5000);
      const firstField = Object.keys(sample as Record<string, Json>)[0];
      if (firstField) {
        const raw = JSON.stringify({ ...(sample as Record<string, Json>), [firstField]: "__DEEP__" }).replace('"__DEEP__"', deep);
        cases.add("deeply nested value", path, { raw }, { status: [400] });
      }

      // Bad Idempotency-Keys on POST.
      if (op.method === "POST") {
        for (const key of ["k".repeat(256), "a\tb", "with space", ""]) {
          cases.add(
            `Idempotency-Key ${JSON.stringify(key.slice(0, 10))}`,
            path,
            { body: sample, headers: { "idempotency-key": key } },
            { status: [400] },
          );
        }
      }

      // Unknown fields at every strict object level, including prototype keys.
      const top = variantFor(doc, op.body?.schema ?? {}, sample);
      const objects: (string | number)[][] = [[]];
      for (const field of fieldsOf(doc, op.body?.schema ?? {}, sample)) {
        const s = variantFor(doc, field.schema, field.value);
        if (s.properties && s.additionalProperties === false && field.value !== null && typeof field.value === "object")
          objects.push(field.path);
      }
      if (top.additionalProperties === false) {
        for (const objPath of objects) {
          const unknownPath = [...objPath, "unexpected_field"];
          cases.add(`unknown ${dotted(unknownPath)}`, path, json(withValue(sample, unknownPath, 1)), {
            status: [400],
            field: dotted(unknownPath),
          });
          fieldCases++;
        }
        for (const key of ["__proto__", "constructor"]) {
          const raw = JSON.stringify(sample).replace(/^\{/, `{"${key}":{"scope":"admin"},`);
          cases.add(`unknown ${key}`, path, { raw }, { status: [400], field: key });
        }
      }

      // Per field: wrong types, missing when required, out-of-range numbers, oversized strings.
      for (const field of fieldsOf(doc, op.body?.schema ?? {}, sample)) {
        const name = dotted(field.path);
        const want = (extra = {}) => ({ status: [400], code: "validation_failed", field: name, ...extra });
        for (const value of wrongValues(doc, field.schema)) {
          cases.add(`${name}=${JSON.stringify(value)}`, path, json(withValue(sample, field.path, value)), want());
          fieldCases++;
        }
        if (field.required && field.value !== undefined) {
          cases.add(`without ${name}`, path, json(withValue(sample, field.path, undefined)), want());
          fieldCases++;
        }
        const s = resolve(doc, field.schema);
        const types = acceptedTypes(doc, field.schema);
        if ((types.has("integer") || types.has("number")) && !types.has("string")) {
          const bad: Json[] = [];
          if (s.minimum !== undefined) bad.push(s.minimum - 1);
          if (s.maximum !== undefined) bad.push(s.maximum + 1);
          if (types.has("integer")) bad.push(2.5, 1e300);
          for (const value of bad) {
            cases.add(`${name}=${value}`, path, json(withValue(sample, field.path, value)), want());
            fieldCases++;
          }
        }
        if (types.has("string") && !s.enum && field.value !== undefined) {
          const lengths = [200_000];
          if (s.maxLength !== undefined && s.maxLength + 1 < 200_000) lengths.push(s.maxLength + 1);
          for (const n of lengths) {
            cases.add(`${name} of ${n} chars`, path, json(withValue(sample, field.path, "a".repeat(n))), want());
            fieldCases++;
          }
          if (s.minLength !== undefined && s.minLength > 0) {
            cases.add(`${name}=""`, path, json(withValue(sample, field.path, "")), want());
            fieldCases++;
          }
        }
      }
      await cases.run();
    }
    rec.summary({ field_cases: fieldCases });
    expect(rec.problems).toEqual([]);
    expect(await workspaceCounts(f.workspaceId), "a refused create left a row behind").toEqual(counts);
  });

  it("answers invalid path ids with a 404 (or a 400 naming the parameter), never touching anything", async () => {
    const rec = new Recorder("bad-input/path-ids");
    const rawDots: [string, string, string][] = [];
    const freeKeys: [string, string, string, number][] = [];
    for (const op of operations.filter((o) => o.pathParams.length > 0)) {
      const values = pathValues(op.path, f);
      if (typeof values === "string") throw new Error(values);
      const sample = samples[op.operationId];
      const cases = new Refusals(rec, op);
      for (const param of op.pathParams) {
        const bad: [string, string][] = [
          ["garbage", "garbage"],
          ["another type's id", otherTypeId(op.path, param, f)],
          ["10 KB", "x".repeat(10_240)],
          ["unicode", encodeURIComponent("💩ünïcødé")],
          ["encoded ../", "..%2F..%2Ftokens"],
          ["encoded dots", "%2e%2e"],
          ["NUL", "%00"],
          ["bad escape", "%ZZ"],
          ["broken UTF-8", "%E0%A4%A"],
          ["SQL", encodeURIComponent("' OR 1=1 --")],
          ["space", "%20"],
        ];
        for (const [label, value] of bad) {
          const path = fillPath(op.path, { ...values, [param]: value });
          if (param === "key") {
            // A primary key is free text: any value is a key no run touched (200, no history); only
            // an oversized one is refused, naming it, and %2e%2e is resolved as ".." by the URL parser.
            const want = label === "10 KB" ? 400 : label === "encoded dots" ? 404 : 200;
            freeKeys.push([`${op.operationId} {key} ${label}`, op.operationId, path, want]);
            continue;
          }
          // Unknown ids and failed trigger secrets answer alike; a too-long one may be a 400 naming it.
          cases.add(`{${param}} ${label}`, path, sample === undefined ? {} : { body: sample }, {
            status: op.public ? [400, 401, 404] : [400, 404],
            field: param,
          });
        }
        // A raw ../ is resolved by the URL parser onto another route: it only must not break.
        rawDots.push([`${op.operationId} {${param}} raw ../`, op.operationId, fillPath(op.path, { ...values, [param]: "../../tokens" })]);
      }
      await cases.run();
    }
    await pool(
      rawDots,
      16,
      async ([label, operationId, path]) => void (await rec.send(label, operationId, "GET", path, { token: f.token })),
    );
    await pool(freeKeys, 16, async ([label, operationId, path, want]) => {
      const res = await rec.send(label, operationId, "GET", path, { token: f.token });
      rec.check(res.status === want, label, `expected ${want}, got ${res.status} ${res.text.slice(0, 200)}`);
      if (want === 200) rec.check(res.text === '{"data":[],"next_cursor":null}', label, `expected no history: ${res.text.slice(0, 200)}`);
      else if (want === 400) rec.check(namesPath(res, "key"), label, `details do not name "key": ${res.text.slice(0, 200)}`);
    });
    rec.summary();
    expect(rec.problems).toEqual([]);
  });

  it("refuses invalid query parameters, naming them", async () => {
    const rec = new Recorder("bad-input/query");
    for (const op of operations.filter((o) => o.queryParams.length > 0)) {
      const base = fixturePath(op);
      const cases = new Refusals(rec, op);
      for (const param of op.queryParams) {
        const s = resolve(doc, param.schema ?? {});
        const types = acceptedTypes(doc, param.schema ?? {});
        const must: string[] = [];
        const may: string[] = ["%00", encodeURIComponent("' OR 1=1 --"), "garbage"];
        if (types.has("integer") || types.has("number"))
          must.push("-1", "0", "abc", "1.5", "1e999", "", "%00", String((s.maximum ?? 1e9) + 1), "1,2");
        if (s.enum) must.push("bogus", "", "TRUE");
        if (types.has("string") && s.maxLength !== undefined) must.push("x".repeat(10_240));
        for (const value of must) {
          cases.add(
            `?${param.name}=${value.slice(0, 12)}`,
            `${base}?${param.name}=${value}`,
            {},
            { status: [400], code: "validation_failed", field: param.name },
          );
        }
        if (!s.enum && !types.has("integer")) {
          for (const value of may) {
            const res = await rec.send(
              `${op.operationId} ?${param.name}=${value}`,
              op.operationId,
              op.method,
              `${base}?${param.name}=${value}`,
              { token: f.token },
            );
            rec.check(
              res.status === 200 || (res.status === 400 && namesPath(res, param.name)),
              `${op.operationId} ?${param.name}=${value}`,
              `answered ${res.status} ${res.text.slice(0, 200)}`,
            );
          }
        }
        const twice = await rec.send(
          `${op.operationId} ?${param.name} twice`,
          op.operationId,
          op.method,
          `${base}?${param.name}=1&${param.name}=abc`,
          { token: f.token },
        );
        rec.check(twice.status === 200 || twice.status === 400, `${op.operationId} ?${param.name} twice`, `answered ${twice.status}`);
      }
      await cases.run();
    }
    rec.summary();
    expect(rec.problems).toEqual([]);
  });
});

describe("bad input: domain cases", () => {
  /** A write that must be refused with a 400 naming `field`, leaving the workspace as it was. */
  async function refusedNaming(
    rec: Recorder,
    operationId: string,
    method: string,
    path: string,
    body: Json,
    field: string,
    mention?: string,
  ) {
    const before = await workspaceSnapshot(f.workspaceId);
    const res = await rec.send(`${operationId} ${JSON.stringify(body).slice(0, 120)}`, operationId, method, path, { token: f.token, body });
    const label = `${operationId} ${field} ${JSON.stringify(body).slice(0, 160)}`;
    rec.check(
      res.status === 400 && errorCode(res) === "validation_failed",
      label,
      `expected 400 validation_failed, got ${res.status} ${res.text.slice(0, 200)}`,
    );
    rec.check(namesPath(res, field), label, `details do not name ${field}: ${res.text.slice(0, 300)}`);
    if (mention) rec.check(res.text.includes(mention), label, `error does not mention ${mention}: ${res.text.slice(0, 300)}`);
    rec.check((await workspaceSnapshot(f.workspaceId)) === before, label, "the refused request changed D1");
    return res;
  }

  it("refuses invalid cron expressions and time zones on create and update, leaving the schedule armed as it was", async () => {
    const rec = new Recorder("bad-input/schedules");
    const stub = env.SYNC.get(env.SYNC.idFromName(f.syncId));
    const armed = await stub.describe();
    const create = samples.createSync as Record<string, Json>;
    const expressions = [
      "* * * *",
      "* * * * * *",
      "61 * * * *",
      "* 24 * * *",
      "* * 32 * *",
      "* * 0 * *",
      "* * * 13 *",
      "* * * * 8",
      "*/0 * * * *",
      "5-1 * * * *",
      "0 0 30 2 *",
      "@hourly",
      "",
      "   ",
      "a b c d e",
      "0 0 * * MON-XYZ",
      "\u0000 * * * *",
      "*".repeat(121),
      "0 6 * * * ; rm -rf /",
    ];
    const zones = [
      "Mars/Olympus_Mons",
      "",
      "UTC+25",
      "../../etc/passwd",
      "Europe/Berlin\u0000",
      "x".repeat(65),
      "GMT+99",
      "Europe/Berlin ",
    ];
    const cases: [Json, string][] = [
      ...expressions.map((expression): [Json, string] => [{ type: "cron", expression, timezone: "UTC" }, "schedule.expression"]),
      ...zones.map((timezone): [Json, string] => [{ type: "cron", expression: "0 6 * * *", timezone }, "schedule.timezone"]),
      [{ type: "interval", interval_minutes: 0 }, "schedule.interval_minutes"],
      [{ type: "interval" }, "schedule.interval_minutes"],
      [{ type: "hourly" }, "schedule.type"],
      [{ type: "manual", expression: "0 6 * * *" }, "schedule.expression"],
    ];
    for (const [schedule, field] of cases) {
      await refusedNaming(rec, "createSync", "POST", "/api/v1/syncs", { ...create, schedule }, field);
      await refusedNaming(rec, "updateSync", "PUT", `/api/v1/syncs/${f.syncId}`, { schedule }, field);
    }
    expect(await stub.describe()).toEqual(armed);
    rec.summary({ cases: cases.length });
    expect(rec.problems).toEqual([]);
  });

  it("refuses field mappings to columns the model does not have, naming each mapping", async () => {
    const rec = new Recorder("bad-input/mappings");
    const create = samples.createSync as Record<string, Json>;
    const cases: [Json, string, string?][] = [
      [[{ source: "no_such_column", destination: "X" }], "field_mappings.0.source", "no_such_column"],
      [
        [
          { source: "email", destination: "E" },
          { source: "email ", destination: "F" },
        ],
        "field_mappings.1.source",
      ],
      [[{ source: "EMAIL", destination: "E" }], "field_mappings.0.source"],
      [
        [
          { source: "email", destination: "E" },
          { source: "plan", destination: "E" },
        ],
        "field_mappings.1.destination",
      ],
      [[], "field_mappings"],
      [Array.from({ length: 501 }, (_, i) => ({ source: "email", destination: `F${i}` })), "field_mappings"],
      [[{ source: "", destination: "E" }], "field_mappings.0.source"],
      [[{ source: "email", destination: "" }], "field_mappings.0.destination"],
    ];
    for (const [field_mappings, field, mention] of cases) {
      await refusedNaming(rec, "createSync", "POST", "/api/v1/syncs", { ...create, field_mappings }, field, mention);
      await refusedNaming(rec, "updateSync", "PUT", `/api/v1/syncs/${f.syncId}`, { field_mappings }, field, mention);
    }
    rec.summary({ cases: cases.length });
    expect(rec.problems).toEqual([]);
  });

  it("refuses models whose SQL repeats a column name, naming sql and the column", async () => {
    const rec = new Recorder("bad-input/duplicate-columns");
    const t = f.table;
    const cases: [string, string][] = [
      [`SELECT id, email AS id FROM ${t}`, "id"],
      [`SELECT id, email, email FROM ${t}`, "email"],
      [`SELECT *, plan FROM ${t}`, "plan"],
      [`SELECT id, email, EMAIL FROM ${t}`, "email"],
      [`SELECT a.id, b.id FROM ${t} a JOIN ${t} b USING (id)`, "id"],
      [`SELECT id, 1, 2 FROM ${t}`, "?column?"],
    ];
    for (const [sql, column] of cases) {
      await refusedNaming(
        rec,
        "createModel",
        "POST",
        "/api/v1/models",
        { name: "dup", source_id: f.sourceId, sql, primary_key: "id" },
        "sql",
        column,
      );
      await refusedNaming(rec, "updateModel", "PUT", `/api/v1/models/${f.modelId}`, { sql }, "sql", column);
    }
    rec.summary({ cases: cases.length });
    expect(rec.problems).toEqual([]);
  });

  it("fails SQL that never ends fast, with a timeout error, when the statement timeout is short", async () => {
    const rec = new Recorder("bad-input/never-ends");
    const fetcher = appWithEnv({ WAREHOUSE_STATEMENT_TIMEOUT_MS: "500" });
    const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
    // Folded by the planner, so it runs even for the column-learning LIMIT 0 query.
    await pg(
      `CREATE FUNCTION stress_slow_${suffix}() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(600); RETURN 1; END $$`,
    );
    const locked = await customersTable(3);
    const holder = await connectPostgres(WAREHOUSE_URL, { statementTimeoutMs: 60_000, allowPrivate: true });
    try {
      await holder.query(`BEGIN; LOCK TABLE ${locked} IN ACCESS EXCLUSIVE MODE`);
      const counts = await workspaceCounts(f.workspaceId);
      const timedOut = async (label: string, method: string, path: string, body?: Json) => {
        const started = Date.now();
        const res = await rec.send(label, label.split(" ")[0] ?? label, method, path, { token: f.token, body, fetcher });
        const ms = Date.now() - started;
        rec.check(ms < 8_000, label, `took ${ms} ms`);
        rec.check(
          res.status === 422 && errorCode(res) === "source_error",
          label,
          `expected 422 source_error, got ${res.status} ${res.text.slice(0, 300)}`,
        );
        const details = (res.json as { error?: { details?: { warehouse_error?: string } } }).error?.details;
        rec.check(details?.warehouse_error === "timeout", label, `warehouse_error is ${details?.warehouse_error}`);
        rec.check(/cancel|timeout/i.test(res.text), label, `message does not say it timed out: ${res.text.slice(0, 300)}`);
      };
      const model = (sql: string) => ({ name: "slow", source_id: f.sourceId, sql, primary_key: "id" });
      await timedOut("createModel planner-folded sleep", "POST", "/api/v1/models", model(`SELECT stress_slow_${suffix}() AS id`));
      await timedOut("createModel locked table", "POST", "/api/v1/models", model(`SELECT id FROM ${locked}`));
      const before = await workspaceSnapshot(f.workspaceId);
      await timedOut("updateModel locked table", "PUT", `/api/v1/models/${f.modelId}`, {
        sql: `SELECT id, email, name, plan FROM ${locked}`,
      });
      rec.check((await workspaceSnapshot(f.workspaceId)) === before, "updateModel locked table", "the model changed");
      expect(await workspaceCounts(f.workspaceId)).toEqual(counts);

      // pg_sleep in the select list does not run for LIMIT 0, so the model saves; reading rows times out.
      const started = Date.now();
      const sleepy = await rec.send("createModel pg_sleep(600)", "createModel", "POST", "/api/v1/models", {
        token: f.token,
        fetcher,
        body: model(`SELECT id, pg_sleep(600)::text AS slept FROM ${f.table}`),
      });
      rec.check(
        Date.now() - started < 8_000 && sleepy.status < 500,
        "createModel pg_sleep(600)",
        `answered ${sleepy.status} after ${Date.now() - started} ms`,
      );
      if (sleepy.status === 201) {
        const id = (sleepy.json as { id: string }).id;
        await timedOut("previewModel pg_sleep(600)", "POST", `/api/v1/models/${id}/preview`, { limit: 1 });
      }
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      await closePostgres(holder);
    }
    rec.summary();
    expect(rec.problems).toEqual([]);
  });

  it("fails a run whose model lost a mapped column, naming it, without sending or committing anything", async () => {
    const table = await customersTable(20);
    const sql = { explicit: `SELECT id, email, name, plan FROM ${table}`, star: `SELECT * FROM ${table}` };
    const syncs: { kind: keyof typeof sql; syncId: string; endpoint: string }[] = [];
    for (const kind of ["explicit", "star"] as const) {
      const model = await send("POST", "/api/v1/models", {
        token: f.token,
        body: { name: kind, source_id: f.sourceId, sql: sql[kind], primary_key: "id" },
      });
      expect(model.status, model.text).toBe(201);
      const endpoint = `${table}_${kind}`;
      const dest = await send("POST", "/api/v1/destinations", {
        token: f.token,
        body: { name: kind, type: "webhook", config: { url: `${env.WEBHOOK_RECEIVER_URL}/hook/${endpoint}` } },
      });
      expect(dest.status, dest.text).toBe(201);
      const sync = await send("POST", "/api/v1/syncs", {
        token: f.token,
        body: {
          name: kind,
          model_id: (model.json as { id: string }).id,
          destination_id: (dest.json as { id: string }).id,
          mode: "mirror",
          schedule: { type: "manual" },
          field_mappings: [
            { source: "email", destination: "Email" },
            { source: "name", destination: "Name" },
          ],
        },
      });
      expect(sync.status, sync.text).toBe(201);
      syncs.push({ kind, syncId: (sync.json as { id: string }).id, endpoint });
    }
    const run = async (syncId: string) => {
      const res = await send("POST", `/api/v1/syncs/${syncId}/trigger`, { token: f.token });
      expect(res.status, res.text).toBe(202);
      return waitForRun(syncId, (res.json as { id: string }).id, { token: f.token });
    };

    for (const s of syncs) expect((await run(s.syncId)).status).toBe("succeeded");
    const delivered = await Promise.all(syncs.map((s) => webhookState(s.endpoint)));

    await pg(`ALTER TABLE ${table} RENAME COLUMN name TO full_name`);
    for (const [i, s] of syncs.entries()) {
      const failed = await run(s.syncId);
      expect(failed.status, JSON.stringify(failed)).toBe("failed");
      const error = failed.error as { code: string; message: string };
      expect(error.message, JSON.stringify(error)).toMatch(/"name"/);
      expect(error.code).toMatch(s.kind === "explicit" ? /^query_failed$/ : /^mapping_column_missing$/);
      const after = await webhookState(s.endpoint);
      expect(after.requests, "a failed run sent something").toBe(delivered[i]?.requests);
    }
    const preview = await send(
      "POST",
      `/api/v1/models/${await send("GET", `/api/v1/syncs/${syncs[0]?.syncId}`, { token: f.token }).then((r) => (r.json as { model_id: string }).model_id)}/preview`,
      { token: f.token },
    );
    expect(preview.status, preview.text).toBe(422);
    expect(preview.text).toMatch(/"name"|\\"name\\"/);

    // Back as it was: the failed runs committed nothing, so nothing is new or changed.
    await pg(`ALTER TABLE ${table} RENAME COLUMN full_name TO name`);
    for (const s of syncs) {
      expect(await run(s.syncId)).toMatchObject({
        status: "succeeded",
        rows_created: 0,
        rows_updated: 0,
        rows_deleted: 0,
        rows_unchanged: 20,
      });
    }
    console.log(
      `[bad-input/changing-columns] ${JSON.stringify({ syncs: syncs.length, runs: syncs.length * 3, failed_runs_named_column: syncs.length })}`,
    );
  });
});
