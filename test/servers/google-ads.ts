import { randomUUID } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import { json, readBody, tenants } from "./http";

/**
 * A fake Google Ads API (REST) and OAuth2 token endpoint for the google_ads destination, following:
 * - OAuth2 refresh (https://developers.google.com/identity/protocols/oauth2/web-server#offline):
 *   `POST /t/{ns}/token` form `grant_type=refresh_token&client_id&client_secret&refresh_token` →
 *   `{access_token, expires_in, token_type:"Bearer", scope}`, or 400 `invalid_grant` / 401 `invalid_client`;
 * - API calls need `Authorization: Bearer` with a live token (401 UNAUTHENTICATED otherwise), the
 *   `developer-token` (401 with DEVELOPER_TOKEN_INVALID otherwise) and, for lists reached through a
 *   manager, `login-customer-id` (403 USER_PERMISSION_DENIED otherwise)
 *   (https://developers.google.com/google-ads/api/rest/auth);
 * - OfflineUserDataJobService (https://developers.google.com/google-ads/api/rest/reference/rest/latest/customers.offlineUserDataJobs,
 *   https://developers.google.com/google-ads/api/docs/remarketing/audience-segments/customer-match/get-started):
 *   `customers/{id}/offlineUserDataJobs:create` (CUSTOMER_MATCH_USER_LIST of an existing list) →
 *   `{resourceName}`; `{job}:addOperations` `{operations:[{create|remove:{userIdentifiers}}], enablePartialFailure}`
 *   with at most 100,000 identifiers per request and 20 per UserData (TOO_MANY_USER_IDENTIFIERS,
 *   the whole request refused); a hashed value that is not 64 lowercase hex is
 *   INVALID_SHA256_FORMAT, an incomplete address INCOMPLETE_ADDRESS, an identifier of another
 *   upload key type than the list's (CONTACT_INFO, CRM_ID, MOBILE_ADVERTISING_ID) INCOMPATIBLE_UPLOAD_KEY_TYPE, each a
 *   `partialFailureError` entry at `operations[i]` (or a 400 without partial failure); `{job}:run`
 *   → a long-running operation; a job runs `run_ms` then becomes SUCCESS (or `job_failure`:
 *   FAILED with that reason) and only then applies to the list;
 * - `customers/{id}/googleAds:search` answers the job's status and user lists by id;
 * - errors as google.rpc.Status with GoogleAdsFailure details
 *   (https://developers.google.com/google-ads/api/docs/best-practices/error-types); faults inject
 *   429 RESOURCE_EXHAUSTED (with `quotaErrorDetails.retryDelay`) and 5xx.
 *
 * Members of a list are sets of identifiers: an add merges into a member sharing any identifier,
 * a remove drops members sharing any. Control: `GET /t/{ns}/_state`, `POST /t/{ns}/_config`.
 */
interface AccountConfig {
  client_id: string;
  client_secret: string;
  refresh_token: string;
  developer_token: string;
  /** Lists by `customers/{id}/userLists/{id}`. */
  user_lists: string[];
  /** The lists' upload key type: CONTACT_INFO lists refuse mobile ids and user ids (INCOMPATIBLE_UPLOAD_KEY_TYPE). */
  upload_key_type: "CONTACT_INFO" | "CRM_ID" | "MOBILE_ADVERTISING_ID";
  /** Required login-customer-id, if any. */
  login_customer_id?: string;
  token_ttl_s: number;
  run_ms: number;
  job_failure?: string;
  faults: Fault[];
}

interface Fault {
  status: number;
  /** Only on paths containing this. */
  path?: string;
  retry_delay?: string;
  retry_after?: string;
  times?: number;
}

type Identifier = Record<string, unknown>;
interface Job {
  resourceName: string;
  userList: string;
  status: "PENDING" | "RUNNING" | "SUCCESS" | "FAILED";
  failureReason?: string;
  operations: { kind: "create" | "remove"; ids: string[] }[];
  consent?: unknown;
}

interface Account {
  config: AccountConfig;
  tokens: Map<string, number>;
  jobs: Map<string, Job>;
  members: Map<string, string[][]>;
  requests: { method: string; path: string; status: number; operations?: number }[];
  tokenRequests: number;
  nextJob: number;
}

const defaults = (): AccountConfig => ({
  client_id: "google-client",
  client_secret: "google-secret",
  refresh_token: "1//google-refresh",
  developer_token: "google-dev-token",
  user_lists: ["customers/1234567890/userLists/555"],
  upload_key_type: "CONTACT_INFO",
  token_ttl_s: 3600,
  run_ms: 0,
  faults: [],
});

const MAX_IDENTIFIERS = 100_000;
const MAX_PER_USER = 20;
const SHA256 = /^[0-9a-f]{64}$/;

/** Starts the fake Google Ads API on 127.0.0.1. */
export function startFakeGoogleAds(port = 0): Promise<{ server: Server; port: number }> {
  const accounts = tenants<Account>(() => ({
    config: defaults(),
    tokens: new Map(),
    jobs: new Map(),
    members: new Map(),
    requests: [],
    tokenRequests: 0,
    nextJob: 1,
  }));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = accounts.route(url);
    if (!found) return json(res, 404, status(404, "NOT_FOUND", "unknown path"));
    const account = found.tenant;
    const path = decodeURIComponent(found.path);
    const raw = await readBody(req);
    if (path === "/_state" && req.method === "GET") {
      return json(res, 200, {
        jobs: [...account.jobs.values()],
        members: Object.fromEntries(account.members),
        requests: account.requests,
        token_requests: account.tokenRequests,
      });
    }
    if (path === "/_config" && req.method === "POST") {
      account.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<AccountConfig>) };
      account.config.faults = account.config.faults.map((f) => ({ ...f }));
      return json(res, 200, { ok: true });
    }
    if (path === "/_expire_tokens" && req.method === "POST") {
      account.tokens.clear();
      return json(res, 200, { ok: true });
    }
    if (path === "/token" && req.method === "POST") return token(account, raw, res);

    const log: Account["requests"][number] = { method: req.method ?? "GET", path, status: 200 };
    account.requests.push(log);
    const reply = (code: number, body: unknown, headers: Record<string, string> = {}) => {
      log.status = code;
      json(res, code, body, headers);
    };
    const fault = account.config.faults.find((f) => f.path === undefined || path.includes(f.path));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) account.config.faults.splice(account.config.faults.indexOf(fault), 1);
      const quota = fault.status === 429;
      return reply(
        fault.status,
        status(
          fault.status,
          quota ? "RESOURCE_EXHAUSTED" : "INTERNAL",
          quota ? "Resource has been exhausted (e.g. check quota)." : "Internal error encountered.",
          [
            quota
              ? {
                  errorCode: { quotaError: "RESOURCE_TEMPORARILY_EXHAUSTED" },
                  message: "Too many requests.",
                  details: { quotaErrorDetails: { retryDelay: fault.retry_delay ?? "1s" } },
                }
              : { errorCode: { internalError: "INTERNAL_ERROR" }, message: "An internal error has occurred." },
          ],
        ),
        fault.retry_after === undefined ? {} : { "retry-after": fault.retry_after },
      );
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const expiry = bearer === undefined ? undefined : account.tokens.get(bearer);
    if (expiry === undefined || expiry < Date.now()) {
      return reply(
        401,
        status(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token.", [
          { errorCode: { authenticationError: "OAUTH_TOKEN_INVALID" }, message: "Oauth token is invalid." },
        ]),
      );
    }
    if (req.headers["developer-token"] !== account.config.developer_token) {
      return reply(
        401,
        status(401, "UNAUTHENTICATED", "The developer token is not valid.", [
          { errorCode: { authenticationError: "DEVELOPER_TOKEN_INVALID" }, message: "The developer token is not valid." },
        ]),
      );
    }
    if (account.config.login_customer_id !== undefined && req.headers["login-customer-id"] !== account.config.login_customer_id) {
      return reply(
        403,
        status(403, "PERMISSION_DENIED", "The caller does not have permission", [
          {
            errorCode: { authorizationError: "USER_PERMISSION_DENIED" },
            message:
              "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header.",
          },
        ]),
      );
    }
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    settle(account);

    let m = /^\/v\d+\/customers\/(\d+)\/offlineUserDataJobs:create$/.exec(path);
    if (m && req.method === "POST") {
      const job = body.job as { type?: string; customerMatchUserListMetadata?: { userList?: string; consent?: unknown } } | undefined;
      const list = job?.customerMatchUserListMetadata?.userList ?? "";
      if (job?.type !== "CUSTOMER_MATCH_USER_LIST" || !account.config.user_lists.includes(list) || !list.startsWith(`customers/${m[1]}/`)) {
        return reply(
          400,
          status(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", [
            {
              errorCode: { offlineUserDataJobError: "INVALID_USER_LIST_ID" },
              message: "The user list ID provided for the job is invalid.",
            },
          ]),
        );
      }
      const resourceName = `customers/${m[1]}/offlineUserDataJobs/${9000 + account.nextJob++}`;
      account.jobs.set(resourceName, {
        resourceName,
        userList: list,
        status: "PENDING",
        operations: [],
        consent: job.customerMatchUserListMetadata?.consent,
      });
      return reply(200, { resourceName });
    }
    m = /^\/v\d+\/(customers\/\d+\/offlineUserDataJobs\/\d+):(addOperations|run)$/.exec(path);
    if (m?.[1] && req.method === "POST") {
      const job = account.jobs.get(m[1]);
      if (!job) return reply(404, status(404, "NOT_FOUND", "Requested entity was not found."));
      if (job.status !== "PENDING") {
        return reply(
          400,
          status(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", [
            {
              errorCode: { offlineUserDataJobError: "INVALID_JOB_STATUS" },
              message: "The job is not PENDING: operations cannot be added and it cannot run again.",
            },
          ]),
        );
      }
      if (m[2] === "run") {
        job.status = "RUNNING";
        const ready = Date.now() + account.config.run_ms;
        runAt.set(job, ready);
        settle(account);
        return reply(200, { name: `customers/${job.resourceName.split("/")[1]}/operations/${randomUUID()}` });
      }
      const operations = Array.isArray(body.operations) ? (body.operations as Record<string, { userIdentifiers?: Identifier[] }>[]) : [];
      log.operations = operations.length;
      const total = operations.reduce((n, op) => n + (Object.values(op)[0]?.userIdentifiers?.length ?? 0), 0);
      const tooMany = operations.some((op) => (Object.values(op)[0]?.userIdentifiers?.length ?? 0) > MAX_PER_USER);
      if (total > MAX_IDENTIFIERS || tooMany) {
        return reply(
          400,
          status(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", [
            {
              errorCode: { offlineUserDataJobError: "TOO_MANY_USER_IDENTIFIERS" },
              message: "Maximum number of user identifiers allowed per request is 100,000 and per operation is 20.",
            },
          ]),
        );
      }
      const errors: Record<string, unknown>[] = [];
      const accepted: Job["operations"] = [];
      operations.forEach((op, index) => {
        const kind = "create" in op ? "create" : "remove" in op ? "remove" : undefined;
        const ids = kind ? (op[kind]?.userIdentifiers ?? []) : [];
        const problem = kind === undefined ? "INVALID_OPERATION" : validate(ids, account.config.upload_key_type);
        if (problem) {
          errors.push({
            errorCode: { offlineUserDataJobError: problem },
            message: MESSAGES[problem] ?? problem,
            location: {
              fieldPathElements: [{ fieldName: "operations", index }, { fieldName: kind ?? "create" }, { fieldName: "user_identifiers" }],
            },
          });
        } else if (kind) accepted.push({ kind, ids: ids.map(identifierKey) });
      });
      if (errors.length > 0 && body.enablePartialFailure !== true) {
        return reply(400, status(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", errors));
      }
      job.operations.push(...accepted);
      return reply(
        200,
        errors.length === 0
          ? {}
          : {
              partialFailureError: status(
                400,
                "INVALID_ARGUMENT",
                `Multiple errors in 'details'. First error: ${String(errors[0]?.message)}`,
                errors,
                true,
              ),
            },
      );
    }
    m = /^\/v\d+\/customers\/(\d+)\/googleAds:search$/.exec(path);
    if (m && req.method === "POST") {
      const query = String(body.query ?? "");
      const jobName = /offline_user_data_job\.resource_name = '([^']+)'/.exec(query)?.[1];
      if (jobName) {
        const job = account.jobs.get(jobName);
        return reply(
          200,
          job
            ? {
                results: [
                  {
                    offlineUserDataJob: {
                      resourceName: job.resourceName,
                      status: job.status,
                      ...(job.failureReason ? { failureReason: job.failureReason } : {}),
                    },
                  },
                ],
              }
            : {},
        );
      }
      const listId = /user_list\.id = (\d+)/.exec(query)?.[1];
      const name = `customers/${m[1]}/userLists/${listId}`;
      return reply(
        200,
        account.config.user_lists.includes(name)
          ? { results: [{ userList: { resourceName: name, id: listId, name: "Fake list", type: "CRM_BASED" } }] }
          : {},
      );
    }
    reply(404, status(404, "NOT_FOUND", `no route for ${req.method} ${path}`));
  });

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

const runAt = new WeakMap<Job, number>();

/** Finishes running jobs whose time has come, applying their operations to the list. */
function settle(account: Account) {
  for (const job of account.jobs.values()) {
    const at = runAt.get(job);
    if (job.status !== "RUNNING" || at === undefined || at > Date.now()) continue;
    if (account.config.job_failure) {
      job.status = "FAILED";
      job.failureReason = account.config.job_failure;
      continue;
    }
    const members = account.members.get(job.userList) ?? [];
    for (const op of job.operations) {
      const sharing = (m: string[]) => m.some((id) => op.ids.includes(id));
      if (op.kind === "remove") {
        for (let i = members.length - 1; i >= 0; i--) if (sharing(members[i] ?? [])) members.splice(i, 1);
      } else {
        const existing = members.find(sharing);
        if (existing) for (const id of op.ids) if (!existing.includes(id)) existing.push(id);
        if (!existing) members.push([...op.ids]);
      }
    }
    account.members.set(job.userList, members);
    job.status = "SUCCESS";
  }
}

const MESSAGES: Record<string, string> = {
  INVALID_SHA256_FORMAT: "The SHA256 encoded value is malformed.",
  INCOMPLETE_ADDRESS: "The address info is incomplete: first name, last name, country code and postal code are all required.",
  MISSING_USER_IDENTIFIER: "The user data has no user identifier.",
  INVALID_COUNTRY_CODE: "The country code is invalid.",
  INCOMPATIBLE_UPLOAD_KEY_TYPE: "The user identifier is not compatible with the user list's upload key type.",
};

/** What is wrong with one UserData's identifiers, as an OfflineUserDataJobError code. */
function validate(ids: Identifier[], keyType: AccountConfig["upload_key_type"]): string | undefined {
  if (ids.length === 0) return "MISSING_USER_IDENTIFIER";
  for (const id of ids) {
    const type = "mobileId" in id ? "MOBILE_ADVERTISING_ID" : "thirdPartyUserId" in id ? "CRM_ID" : "CONTACT_INFO";
    if (type !== keyType) return "INCOMPATIBLE_UPLOAD_KEY_TYPE";
    for (const field of ["hashedEmail", "hashedPhoneNumber"])
      if (field in id && !SHA256.test(String(id[field]))) return "INVALID_SHA256_FORMAT";
    if ("addressInfo" in id) {
      const a = (id.addressInfo ?? {}) as Record<string, unknown>;
      if (!a.hashedFirstName || !a.hashedLastName || !a.countryCode || !a.postalCode) return "INCOMPLETE_ADDRESS";
      if (!SHA256.test(String(a.hashedFirstName)) || !SHA256.test(String(a.hashedLastName))) return "INVALID_SHA256_FORMAT";
      if (!/^[A-Z]{2}$/.test(String(a.countryCode))) return "INVALID_COUNTRY_CODE";
    }
  }
  return undefined;
}

/** One identifier as a comparable string, e.g. `hashedEmail:ab12…`. */
function identifierKey(id: Identifier): string {
  const [field, value] = Object.entries(id)[0] ?? ["", ""];
  return `${field}:${typeof value === "object" ? JSON.stringify(value) : String(value)}`;
}

function token(account: Account, raw: string, res: ServerResponse) {
  account.tokenRequests++;
  const form = new URLSearchParams(raw);
  const c = account.config;
  if (form.get("grant_type") !== "refresh_token")
    return json(res, 400, { error: "unsupported_grant_type", error_description: "Invalid grant_type" });
  if (form.get("client_id") !== c.client_id || form.get("client_secret") !== c.client_secret) {
    return json(res, 401, { error: "invalid_client", error_description: "The OAuth client was not found." });
  }
  if (form.get("refresh_token") !== c.refresh_token)
    return json(res, 400, { error: "invalid_grant", error_description: "Token has been expired or revoked." });
  const accessToken = `ya29.${randomUUID()}`;
  account.tokens.set(accessToken, Date.now() + c.token_ttl_s * 1000);
  json(res, 200, {
    access_token: accessToken,
    expires_in: c.token_ttl_s,
    token_type: "Bearer",
    scope: "https://www.googleapis.com/auth/adwords",
  });
}

/** A google.rpc.Status with a GoogleAdsFailure; `bare` gives the Status itself (partialFailureError), else `{error: Status}`. */
function status(code: number, statusName: string, message: string, errors: Record<string, unknown>[] = [], bare = false) {
  const details =
    errors.length === 0
      ? []
      : [{ "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure", errors, requestId: randomUUID() }];
  const rpcCode = { 400: 3, 401: 16, 403: 7, 404: 5, 429: 8 }[code] ?? 13;
  if (bare) return { code: rpcCode, message, details };
  return { error: { code, message, status: statusName, details } };
}
