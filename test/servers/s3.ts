import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { json } from "./http";

/**
 * A fake S3-compatible store for the files destination's tests: path-style requests
 * (`/{bucket}/{key}`), each authenticated with AWS Signature Version 4 exactly as documented, the
 * signature recomputed here from the request as received:
 * - signing: "Create a signed AWS API request",
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 *   (canonical request = method, canonical URI, canonical query string, canonical headers, signed
 *   headers, payload hash; string to sign `AWS4-HMAC-SHA256\n{x-amz-date}\n{scope}\n{hex sha256}`;
 *   key = HMAC chain of "AWS4"+secret, date, region, service, "aws4_request");
 * - S3 specifics: the path is URI-encoded once and not normalised, and `x-amz-content-sha256` must
 *   carry the payload's hash: "Signature Calculations for the Authorization Header",
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html;
 * - errors as XML `<Error><Code/><Message/><RequestId/></Error>`, with the documented codes and
 *   statuses (`SignatureDoesNotMatch` 403, `InvalidAccessKeyId` 403, `AuthorizationHeaderMalformed`
 *   400, `XAmzContentSHA256Mismatch` 400, `RequestTimeTooSkewed` 403 beyond 15 minutes,
 *   `NoSuchBucket` 404, `NoSuchKey` 404, `SlowDown` 503): https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html;
 * - operations: PutObject (`PUT /{bucket}/{key}` → 200 with an ETag),
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html; GetObject,
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html; ListObjectsV2
 *   (`GET /{bucket}?list-type=2&prefix=&continuation-token=`, at most `max-keys`, default 1000),
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html; DeleteObject (204),
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html.
 *
 * Control (unsigned, under `/_control/`): `PUT /_control/{bucket}` creates a bucket with
 * `{access_key_id, secret_access_key, region, slow_down?: n, deny?: [operation]}` (the next n
 * requests get 503 SlowDown; the operations named, e.g. "ListObjectsV2", get 403 AccessDenied, as
 * a write-only bucket policy answers); `PATCH /_control/{bucket}` changes `slow_down` and `deny`,
 * objects kept; `GET /_control/{bucket}` lists its objects with sizes and the requests seen;
 * `GET /_control/{bucket}/{key}` answers an object's bytes.
 */
interface Bucket {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  slowDown: number;
  deny: string[];
  objects: Map<string, { body: Buffer; contentType: string }>;
  requests: { method: string; path: string; status: number }[];
}

interface BucketConfig {
  access_key_id: string;
  secret_access_key: string;
  region: string;
  slow_down?: number;
  deny?: string[];
}

const MAX_SKEW_MS = 15 * 60_000;

export async function startFakeS3(port = 0): Promise<{ server: Server; port: number }> {
  const buckets = new Map<string, Bucket>();
  const server = createServer(async (req, res) => {
    const body = await readBytes(req);
    const url = new URL(req.url ?? "/", "http://s3.local");
    const segments = url.pathname.split("/").slice(1);
    if (segments[0] === "_control") return control(segments.slice(1).map(decodeURIComponent), req, res, body);
    const bucketName = decodeURIComponent(segments[0] ?? "");
    const key = segments.slice(1).map(decodeURIComponent).join("/");
    const bucket = buckets.get(bucketName);
    const reply = (status: number, text = "", headers: Record<string, string> = {}) => {
      bucket?.requests.push({ method: req.method ?? "", path: url.pathname, status });
      res.writeHead(status, text ? { "content-type": "application/xml", ...headers } : headers);
      res.end(text);
    };
    const fail = (status: number, code: string, message: string) => reply(status, errorXml(code, message, url.pathname));
    if (!bucket) return fail(404, "NoSuchBucket", "The specified bucket does not exist");
    const refusal = checkSignature(req, url, body, bucket);
    if (refusal) return fail(refusal.status, refusal.code, refusal.message);
    const operation = !key ? "ListObjectsV2" : req.method === "PUT" ? "PutObject" : req.method === "DELETE" ? "DeleteObject" : "GetObject";
    if (bucket.deny.includes(operation)) return fail(403, "AccessDenied", "Access Denied");
    if (bucket.slowDown > 0) {
      bucket.slowDown -= 1;
      return fail(503, "SlowDown", "Please reduce your request rate.");
    }
    if (req.method === "PUT" && key) {
      bucket.objects.set(key, { body, contentType: req.headers["content-type"] ?? "binary/octet-stream" });
      return reply(200, "", { etag: `"${createHash("md5").update(body).digest("hex")}"` });
    }
    if (req.method === "GET" && key) {
      const object = bucket.objects.get(key);
      if (!object) return fail(404, "NoSuchKey", "The specified key does not exist.");
      bucket.requests.push({ method: "GET", path: url.pathname, status: 200 });
      res.writeHead(200, { "content-type": object.contentType });
      return res.end(object.body);
    }
    if (req.method === "DELETE" && key) {
      bucket.objects.delete(key);
      return reply(204);
    }
    if (req.method === "GET" && !key && url.searchParams.get("list-type") === "2") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const maxKeys = Math.min(1000, Number(url.searchParams.get("max-keys") ?? 1000));
      const after = url.searchParams.get("continuation-token") ?? "";
      const keys = [...bucket.objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
      const page = keys.slice(0, maxKeys);
      const truncated = keys.length > page.length;
      const contents = page.map(
        (k) => `<Contents><Key>${escapeXml(k)}</Key><Size>${bucket.objects.get(k)?.body.length ?? 0}</Size></Contents>`,
      );
      const next = truncated ? `<NextContinuationToken>${escapeXml(page.at(-1) ?? "")}</NextContinuationToken>` : "";
      return reply(
        200,
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${bucketName}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents.join("")}${next}</ListBucketResult>`,
      );
    }
    fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
  });

  function control(parts: string[], req: IncomingMessage, res: ServerResponse, body: Buffer) {
    const [name, ...rest] = parts;
    if (!name) return json(res, 404, { error: "no bucket" });
    if (req.method === "PUT" && rest.length === 0) {
      const c = JSON.parse(body.toString("utf8")) as BucketConfig;
      buckets.set(name, {
        accessKeyId: c.access_key_id,
        secretAccessKey: c.secret_access_key,
        region: c.region,
        slowDown: c.slow_down ?? 0,
        deny: c.deny ?? [],
        objects: new Map(),
        requests: [],
      });
      return json(res, 201, { bucket: name });
    }
    const bucket = buckets.get(name);
    if (!bucket) return json(res, 404, { error: `no bucket ${name}` });
    if (req.method === "PATCH" && rest.length === 0) {
      const c = JSON.parse(body.toString("utf8")) as Partial<BucketConfig>;
      bucket.slowDown = c.slow_down ?? 0;
      bucket.deny = c.deny ?? [];
      return json(res, 200, { bucket: name });
    }
    if (rest.length === 0) {
      const objects = [...bucket.objects].map(([key, o]) => ({ key, size: o.body.length, content_type: o.contentType }));
      return json(res, 200, { objects, requests: bucket.requests });
    }
    const object = bucket.objects.get(rest.join("/"));
    if (!object) return json(res, 404, { error: "no such object" });
    res.writeHead(200, { "content-type": object.contentType });
    res.end(object.body);
  }

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

/** Recomputes the request's SigV4 signature; the refusal S3 would answer, or undefined when it is valid. */
function checkSignature(req: IncomingMessage, url: URL, body: Buffer, bucket: Bucket) {
  const auth = req.headers.authorization ?? "";
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!match) return { status: 400, code: "AuthorizationHeaderMalformed", message: "The authorization header is malformed." };
  const [, accessKeyId, date, region, signedHeaders, signature] = match as unknown as string[];
  if (accessKeyId !== bucket.accessKeyId) {
    return { status: 403, code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records." };
  }
  if (region !== bucket.region) {
    return { status: 400, code: "AuthorizationHeaderMalformed", message: `the region '${region}' is wrong; expecting '${bucket.region}'` };
  }
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  const at = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
  if (!amzDate.startsWith(date ?? "-") || Number.isNaN(at))
    return { status: 403, code: "AccessDenied", message: "x-amz-date is missing or does not match the credential scope" };
  if (Math.abs(Date.now() - at) > MAX_SKEW_MS) {
    return {
      status: 403,
      code: "RequestTimeTooSkewed",
      message: "The difference between the request time and the current time is too large.",
    };
  }
  const payloadHash = String(req.headers["x-amz-content-sha256"] ?? "");
  if (payloadHash !== "UNSIGNED-PAYLOAD" && payloadHash !== sha256Hex(body)) {
    return {
      status: 400,
      code: "XAmzContentSHA256Mismatch",
      message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
    };
  }
  const names = (signedHeaders ?? "").split(";");
  if (!names.includes("host") || !names.includes("x-amz-date") || !names.includes("x-amz-content-sha256")) {
    return { status: 400, code: "AuthorizationHeaderMalformed", message: "host, x-amz-date and x-amz-content-sha256 must be signed" };
  }
  const canonicalHeaders = names.map((n) => `${n}:${headerValue(req, n)}\n`).join("");
  const canonicalUri = url.pathname
    .split("/")
    .map((s) => uriEncode(decodeURIComponent(s)))
    .join("/");
  const canonicalQuery = [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(Buffer.from(canonicalRequest, "utf8"))].join("\n");
  let key: Buffer = Buffer.from(`AWS4${bucket.secretAccessKey}`, "utf8");
  for (const part of [date ?? "", region ?? "", "s3", "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  const expected = createHmac("sha256", key).update(stringToSign).digest();
  const given = Buffer.from(signature ?? "", "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      status: 403,
      code: "SignatureDoesNotMatch",
      message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    };
  }
  return undefined;
}

/** A header as it enters the canonical headers: values trimmed, inner runs of spaces collapsed. */
function headerValue(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  const joined = Array.isArray(value) ? value.join(",") : (value ?? "");
  return joined.trim().replace(/\s+/g, " ");
}

/** UriEncode() of the signing reference: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper case). */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const sha256Hex = (data: Buffer) => createHash("sha256").update(data).digest("hex");

function errorXml(code: string, message: string, resource: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><Resource>${escapeXml(resource)}</Resource><RequestId>${crypto.randomUUID()}</RequestId></Error>`;
}

function escapeXml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

function readBytes(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
