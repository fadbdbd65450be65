import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { json, readBody, tenants } from "./http";

/**
 * A fake Graph API for the meta_audiences destination, following:
 * - Custom Audience users (https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users):
 *   `POST /{version}/{audience_id}/users` adds and `DELETE` removes, body
 *   `{payload:{schema:[…], data:[[…]]}, session:{session_id, batch_seq, last_batch_flag, estimated_num_total}}`;
 *   "only a maximum of 10000 at a time" (more: error 100); answer
 *   `{audience_id, session_id, num_received, num_invalid_entries, invalid_entry_samples}` where a
 *   hashed key whose value is not 64 lowercase hex (or a value listed in `rejected_values`) is an
 *   invalid entry and is not applied; a session that ended (`last_batch_flag`) takes no more batches;
 * - keys and hashing (https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences):
 *   EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY, GEN hashed; MADID, EXTERN_ID in clear;
 * - errors (https://developers.facebook.com/docs/graph-api/guides/error-handling): a bad token is
 *   HTTP 400 OAuthException code 190; faults inject 429, 5xx, and code 80003 (custom audience rate
 *   limit) with `X-Business-Use-Case-Usage`;
 * - `GET /{version}/{audience_id}` reads the audience; a flagged audience has `operation_status`
 *   471 and refuses member changes (code 100, subcode 1713230, "Audience Upload Blocked").
 *
 * Members are sets of `KEY:value`: an add merges into a member sharing any, a remove drops members
 * sharing any. Paths are under `/t/{ns}`. Control: `GET /t/{ns}/_state`, `POST /t/{ns}/_config`.
 */
interface AccountConfig {
  access_token: string;
  audiences: string[];
  rejected_values: string[];
  /** The audience is flagged (operation_status 471): member changes are refused with subcode 1713230. */
  flagged: boolean;
  faults: Fault[];
}

interface Fault {
  status: number;
  code?: number;
  retry_after?: string;
  usage_minutes?: number;
  times?: number;
}

interface Account {
  config: AccountConfig;
  members: Map<string, string[][]>;
  sessions: Map<string, { received: number; ended: boolean; batches: number[]; estimated: number }>;
  requests: { method: string; path: string; status: number; users?: number; schema?: string[]; data?: unknown[][] }[];
}

const defaults = (): AccountConfig => ({
  access_token: "meta-test-token",
  audiences: ["2385000001"],
  rejected_values: [],
  flagged: false,
  faults: [],
});
const MAX_USERS = 10_000;
const HASHED = new Set(["EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "GEN"]);
const CLEAR = new Set(["MADID", "EXTERN_ID"]);

/** Starts the fake Graph API on 127.0.0.1. */
export function startFakeMeta(port = 0): Promise<{ server: Server; port: number }> {
  const accounts = tenants<Account>(() => ({ config: defaults(), members: new Map(), sessions: new Map(), requests: [] }));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = accounts.route(url);
    if (!found) return json(res, 404, graphError(803, "OAuthException", "unknown path"));
    const { tenant: account, path } = found;
    const raw = await readBody(req);
    if (path === "/_state" && req.method === "GET") {
      return json(res, 200, {
        members: Object.fromEntries(account.members),
        sessions: Object.fromEntries(account.sessions),
        requests: account.requests,
      });
    }
    if (path === "/_config" && req.method === "POST") {
      account.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<AccountConfig>) };
      account.config.faults = account.config.faults.map((f) => ({ ...f }));
      return json(res, 200, { ok: true });
    }
    const log: Account["requests"][number] = { method: req.method ?? "GET", path, status: 200 };
    account.requests.push(log);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      log.status = status;
      json(res, status, body, headers);
    };
    const fault = account.config.faults[0];
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) account.config.faults.shift();
      const headers: Record<string, string> = {};
      if (fault.retry_after !== undefined) headers["retry-after"] = fault.retry_after;
      if (fault.usage_minutes !== undefined) {
        headers["x-business-use-case-usage"] = JSON.stringify({
          act_1: [
            {
              type: "custom_audience",
              call_count: 100,
              total_cputime: 20,
              total_time: 30,
              estimated_time_to_regain_access: fault.usage_minutes,
            },
          ],
        });
      }
      const code = fault.code ?? (fault.status >= 500 ? 2 : 4);
      const message =
        code === 80003
          ? "There have been too many calls from this ad-account. Please wait a bit and try again."
          : code === 2
            ? "An unexpected error has occurred. Please retry your request later."
            : "Application request limit reached";
      return reply(fault.status, graphError(code, "OAuthException", message, code === 2), headers);
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? url.searchParams.get("access_token");
    if (token !== account.config.access_token) {
      return reply(
        400,
        graphError(
          190,
          "OAuthException",
          "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        ),
      );
    }
    const users = /^\/v\d+\.0\/(\d+)\/users$/.exec(path);
    if (users?.[1] && (req.method === "POST" || req.method === "DELETE")) {
      const audience = users[1];
      if (!account.config.audiences.includes(audience))
        return reply(
          400,
          graphError(100, "OAuthException", `Unsupported post request. Object with ID '${audience}' does not exist`, false, 33),
        );
      if (account.config.flagged) {
        return reply(400, {
          error: {
            message: "Invalid parameter",
            type: "OAuthException",
            code: 100,
            error_subcode: 1713230,
            error_user_title: "Audience Upload Blocked",
            error_user_msg: "Before updating user memberships, you must resolve integrity restrictions on this Data File Custom Audience.",
          },
        });
      }
      const body = JSON.parse(raw || "{}") as {
        payload?: { schema?: string | string[]; data?: unknown[] };
        session?: Record<string, unknown>;
      };
      const schema = typeof body.payload?.schema === "string" ? [body.payload.schema] : (body.payload?.schema ?? []);
      const data = (body.payload?.data ?? []).map((row) => (Array.isArray(row) ? row : [row]));
      log.users = data.length;
      log.schema = schema;
      log.data = data;
      if (data.length > MAX_USERS)
        return reply(
          400,
          graphError(100, "OAuthException", `Invalid parameter: a maximum of ${MAX_USERS} users can be sent at a time`, false, 1870053),
        );
      const unknown = schema.find((k) => !HASHED.has(k) && !CLEAR.has(k));
      if (schema.length === 0 || unknown)
        return reply(
          400,
          graphError(100, "OAuthException", `Invalid parameter: schema key ${unknown ?? "(none)"} is not supported`, false, 1870032),
        );
      let sessionId = String(Date.now());
      if (body.session) {
        sessionId = String(body.session.session_id);
        const s = account.sessions.get(sessionId) ?? {
          received: 0,
          ended: false,
          batches: [],
          estimated: Number(body.session.estimated_num_total ?? 0),
        };
        if (s.ended)
          return reply(400, graphError(100, "OAuthException", "Invalid parameter: the upload session has already ended", false, 1870090));
        s.batches.push(Number(body.session.batch_seq));
        s.received += data.length;
        s.ended = body.session.last_batch_flag === true;
        account.sessions.set(sessionId, s);
      }
      const index = new Map<string, string[]>();
      for (const m of account.members.get(audience) ?? []) for (const id of m) index.set(id, m);
      const samples: Record<string, string> = {};
      let invalid = 0;
      for (const row of data) {
        const ids: string[] = [];
        let bad = false;
        schema.forEach((key, i) => {
          const value = String(row[i] ?? "");
          if (value === "") return;
          if ((HASHED.has(key) && !/^[0-9a-f]{64}$/.test(value)) || account.config.rejected_values.includes(value)) {
            bad = true;
            samples[value] = `invalid ${key}`;
          } else ids.push(`${key}:${value}`);
        });
        if (bad || ids.length === 0) {
          invalid++;
          continue;
        }
        // Members by identifier, so large uploads stay linear.
        const found = new Set(ids.map((id) => index.get(id)).filter((m): m is string[] => m !== undefined));
        if (req.method === "DELETE") {
          for (const m of found) for (const id of m) index.delete(id);
        } else {
          const existing = [...found][0] ?? [];
          for (const id of ids) if (!existing.includes(id)) existing.push(id);
          for (const id of existing) index.set(id, existing);
        }
      }
      account.members.set(audience, [...new Set(index.values())]);
      return reply(200, {
        audience_id: audience,
        session_id: sessionId,
        num_received: data.length,
        num_invalid_entries: invalid,
        invalid_entry_samples: samples,
      });
    }
    const read = /^\/v\d+\.0\/(\d+)$/.exec(path);
    if (read?.[1] && req.method === "GET") {
      if (!account.config.audiences.includes(read[1]))
        return reply(400, graphError(100, "OAuthException", `Object with ID '${read[1]}' does not exist`, false, 33));
      return reply(200, {
        id: read[1],
        name: "Fake customer list",
        subtype: "CUSTOM",
        operation_status: account.config.flagged
          ? { code: 471, description: "Audience flagged: resolve its restrictions in Audience Manager" }
          : { code: 200, description: "Normal" },
      });
    }
    reply(400, graphError(100, "OAuthException", `Unknown path components: ${path}`));
  });

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

function graphError(code: number, type: string, message: string, transient = false, subcode?: number) {
  return {
    error: {
      message,
      type,
      code,
      ...(subcode === undefined ? {} : { error_subcode: subcode }),
      is_transient: transient,
      fbtrace_id: randomUUID().replaceAll("-", "").slice(0, 11),
    },
  };
}
