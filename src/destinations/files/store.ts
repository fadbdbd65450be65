import { AwsClient } from "aws4fetch";
import { classifyStatus, type FailureOutcome, type HttpContext, httpRequest, messageOf, truncate } from "../../lib/http";
import type { FilesConfig, FilesCredentials } from "./schema";

/** What a storage call gave: its value, or the failure classified like any destination request. */
export type Stored<T> = { ok: true; value: T } | { ok: false; failure: FailureOutcome };

/** The few object operations the files destination needs, on R2 or S3 alike. */
export interface ObjectStore {
  /** Where the objects go, for messages: `r2://BINDING/` or `s3://bucket/`. */
  readonly label: string;
  put(key: string, body: string | Uint8Array, contentType: string): Promise<Stored<void>>;
  /** The object's text, or null when there is none. */
  get(key: string): Promise<Stored<string | null>>;
  /** Every key under `prefix`. */
  list(prefix: string): Promise<Stored<string[]>>;
  delete(keys: string[]): Promise<Stored<void>>;
}

const OK: Stored<void> = { ok: true, value: undefined };
const TIMEOUT_MS = 60_000;

/**
 * A bucket bound to the Worker. Binding calls throw only on R2's own trouble (or a put too large),
 * which is worth another attempt.
 */
export function r2Store(bucket: R2Bucket, binding: string): ObjectStore {
  const attempt = async <T>(what: string, work: () => Promise<T>): Promise<Stored<T>> => {
    try {
      return { ok: true, value: await work() };
    } catch (err) {
      return { ok: false, failure: { kind: "retry", error: `R2 ${what} failed: ${messageOf(err)}` } };
    }
  };
  return {
    label: `r2://${binding}/`,
    put: (key, body, contentType) => attempt("put", async () => void (await bucket.put(key, body, { httpMetadata: { contentType } }))),
    get: (key) => attempt("get", async () => (await bucket.get(key))?.text() ?? null),
    list: (prefix) =>
      attempt("list", async () => {
        const keys: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await bucket.list({ prefix, cursor });
          keys.push(...page.objects.map((o) => o.key));
          cursor = page.truncated ? page.cursor : undefined;
        } while (cursor);
        return keys;
      }),
    delete: (keys) => attempt("delete", async () => void (keys.length ? await bucket.delete(keys) : undefined)),
  };
}

/**
 * S3-compatible storage through its REST API, every request signed with AWS Signature Version 4
 * (aws4fetch) and sent through the SSRF guard (src/lib/http.ts): path-style URLs
 * `endpoint/bucket/key`; PutObject, GetObject, ListObjectsV2 and DeleteObject
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/). Errors are S3's XML `<Error><Code>…`:
 * 403 (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied) is `auth_failed`.
 */
export function s3Store(config: FilesConfig, credentials: FilesCredentials, http: HttpContext): ObjectStore | string {
  if (!config.endpoint || !config.bucket) return "an s3 target needs config.endpoint and config.bucket";
  if (!credentials.access_key_id || !credentials.secret_access_key) {
    return "an s3 target needs credentials.access_key_id and credentials.secret_access_key";
  }
  const aws = new AwsClient({
    accessKeyId: credentials.access_key_id,
    secretAccessKey: credentials.secret_access_key,
    service: "s3",
    region: config.region,
  });
  const base = `${config.endpoint.replace(/\/+$/, "")}/${config.bucket}`;
  const objectUrl = (key: string) => `${base}/${key.split("/").map(encodeURIComponent).join("/")}`;

  async function call(method: "GET" | "PUT" | "DELETE", url: string, body?: string | Uint8Array, contentType?: string) {
    const signed = await aws.sign(url, { method, body, headers: contentType ? { "content-type": contentType } : {} });
    const headers = Object.fromEntries(signed.headers);
    return httpRequest(http, { method, url, headers, body, timeoutMs: TIMEOUT_MS });
  }
  const failed = (what: string, res: { status: number; headers: Headers; text: string }): Stored<never> => {
    const code = xmlValue(res.text, "Code");
    const message = xmlValue(res.text, "Message");
    const detail = truncate([code, message].filter(Boolean).join(": ") || res.text, 300);
    // 403 is auth_failed; 503 SlowDown and 500 InternalError are retried; a missing bucket (404) is rejected.
    return { ok: false, failure: classifyStatus(res, `S3 ${what}: ${detail}`) };
  };

  return {
    label: `s3://${config.bucket}/`,
    async put(key, body, contentType) {
      const { response, outcome } = await call("PUT", objectUrl(key), body, contentType);
      if (outcome) return { ok: false, failure: outcome };
      return response.status === 200 ? OK : failed("PutObject", response);
    },
    async get(key) {
      const { response, outcome } = await call("GET", objectUrl(key));
      if (outcome) return { ok: false, failure: outcome };
      if (response.status === 404 && xmlValue(response.text, "Code") === "NoSuchKey") return { ok: true, value: null };
      return response.status === 200 ? { ok: true, value: response.text } : failed("GetObject", response);
    },
    async list(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const query = new URLSearchParams({ "list-type": "2", prefix });
        if (token) query.set("continuation-token", token);
        const { response, outcome } = await call("GET", `${base}?${query}`);
        if (outcome) return { ok: false, failure: outcome };
        if (response.status !== 200) return failed("ListObjectsV2", response);
        for (const [, key] of response.text.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(unescapeXml(key ?? ""));
        token = xmlValue(response.text, "IsTruncated") === "true" ? xmlValue(response.text, "NextContinuationToken") : undefined;
      } while (token);
      return { ok: true, value: keys };
    },
    async delete(keys) {
      for (const key of keys) {
        const { response, outcome } = await call("DELETE", objectUrl(key));
        if (outcome) return { ok: false, failure: outcome };
        if (response.status !== 204 && response.status !== 200) return failed("DeleteObject", response);
      }
      return OK;
    },
  };
}

/** The text of the first `<tag>` of an S3 XML answer. */
function xmlValue(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return match?.[1] === undefined ? undefined : unescapeXml(match[1]);
}

function unescapeXml(s: string): string {
  return s.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&quot;", '"').replaceAll("&apos;", "'").replaceAll("&amp;", "&");
}
