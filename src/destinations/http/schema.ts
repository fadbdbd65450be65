import { z } from "@hono/zod-openapi";
import { HMAC_ALGORITHMS, SIGNATURE_ENCODINGS } from "../../lib/crypto";
import { compileTemplate, MAX_TEMPLATE_LENGTH, TemplateError } from "../../sync/template";
import { OPERATION_KINDS } from "../destination";
import { headers, rateLimit, secret } from "../fields";
import { parseResponsePath } from "./response-path";

/** Methods a request may use. */
const HTTP_METHODS = ["POST", "PUT", "PATCH", "DELETE"] as const;

/**
 * OpenAPI 3.1 `contentMediaType` of a multi-line template, so the console draws a text area (as
 * src/sources/source.ts `multiLine` does for key files; zod-to-openapi's metadata type lacks it).
 */
const LIQUID: Record<string, string> = { contentMediaType: "text/x-liquid" };

/** A Liquid template that must compile (the 400 names the field and liquid's message). */
const template = z
  .string()
  .max(MAX_TEMPLATE_LENGTH)
  .superRefine((source, ctx) => {
    try {
      compileTemplate(source);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `invalid template: ${err instanceof TemplateError ? err.message : String(err)}` });
    }
  });

/**
 * The origin a URL template's literal beginning names (`https://api.example.com/users/{{ id }}` →
 * `https://api.example.com`), or `undefined` when its scheme and host are not written out before
 * the first tag. The host must be literal: the private-address check runs when the destination is
 * saved, and a rendered value must never choose the host.
 */
export function staticOrigin(urlTemplate: string): string | undefined {
  const tag = urlTemplate.search(/\{\{|\{%/);
  const literal = tag === -1 ? urlTemplate : urlTemplate.slice(0, tag);
  const head = /^(https?:\/\/[^/?#@\s]+)(?:[/?#]|$)/i.exec(literal);
  // With a tag, the host must be ended by "/", "?" or "#" before it.
  if (!head?.[1] || (tag !== -1 && literal.length === head[1].length)) return undefined;
  if (!URL.canParse(head[1])) return undefined;
  return new URL(head[1]).origin;
}

const urlTemplate = template.superRefine((source, ctx) => {
  if (staticOrigin(source) === undefined)
    ctx.addIssue({
      code: "custom",
      message: "must start with http:// or https:// and a literal host followed by /, e.g. https://api.example.com/users/{{ id }}",
    });
});

const method = z.enum(HTTP_METHODS);

const responsePath = z
  .string()
  .max(500)
  .superRefine((path, ctx) => {
    const parsed = parseResponsePath(path);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.error });
  });

/** A different request for one kind of operation (e.g. `DELETE …/users/{{ key }}` for deletes). */
const OperationRequest = z
  .strictObject({
    method: method.optional().openapi({ description: "Method for this operation (default: the destination's method)." }),
    url: urlTemplate.optional().openapi({
      description: "URL template for this operation (default: the destination's url).",
      example: "https://api.example.com/users/{{ key }}",
    }),
    body: template.optional().openapi({
      ...LIQUID,
      description: 'Body template for this operation (default: the destination\'s body); "" sends no body.',
      example: "",
    }),
  })
  .openapi("HttpOperationRequest");

/** Where the request, response and rows meet: every field a user sets for an `http` destination. */
export const HttpConfig = z
  .strictObject({
    url: urlTemplate.openapi({
      description:
        "URL template (Liquid). One row per request: row fields, key and op are in scope, e.g. {{ id | url_encode }}. In batch mode it may not use any variable. The scheme and host must be literal.",
      example: "https://api.example.com/users/{{ key | url_encode }}",
    }),
    method: method.default("POST").openapi({ description: "HTTP method of every request (per operation: overrides)." }),
    headers: headers(false)
      .optional()
      .openapi({ description: "Extra non-secret headers; secret ones go in credentials.headers.", example: { "X-Team": "growth" } }),
    body: template.optional().openapi({
      ...LIQUID,
      description:
        'JSON body template (Liquid); write values with the json filter: {"email": {{ email | json }}}. Scope, one row per request: the row\'s fields, fields, key, op, batch_id. Batch mode: rows (each row\'s fields with key and op), operations ([{op, key, fields}]), batch_id. Default: {{ fields | json }}, or in batch mode {"operations": {{ operations | json }}}. Must render to JSON; empty sends no body.',
      example: '{"email": {{ email | json }}, "plan": {{ plan | json }}}',
    }),
    overrides: z
      .strictObject(
        Object.fromEntries(OPERATION_KINDS.map((op) => [op, OperationRequest.optional()])) as Record<
          (typeof OPERATION_KINDS)[number],
          z.ZodOptional<typeof OperationRequest>
        >,
      )
      .optional()
      .openapi({
        description: "A different method, url or body per operation kind (create, update, upsert, delete), e.g. DELETE for deletes.",
      }),
    request: z.enum(["per_row", "batch"]).default("per_row").openapi({
      description: "per_row: one request per row. batch: up to batch_size rows per request, the body rendered once over rows/operations.",
    }),
    batch_size: z.number().int().min(1).max(1000).default(100).openapi({ description: "Rows per request in batch mode, 1-1000." }),
    success_path: responsePath.optional().openapi({
      description:
        "Path in the JSON response whose value says whether each row succeeded: ok, data.status, or results[*].ok (batch: one element per row, in order). Without it, any 2xx means every row of the request succeeded.",
      example: "results[*].ok",
    }),
    success_value: z
      .string()
      .max(200)
      .default("true")
      .openapi({ description: 'The value at success_path that means success, compared as text ("true" matches JSON true).' }),
    error_path: responsePath.optional().openapi({
      description: "Path of a failed row's message in the response, same shape as success_path, e.g. results[*].error.",
      example: "results[*].error",
    }),
    signature: z
      .strictObject({
        header: z
          .string()
          .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/, { message: "must be a valid HTTP header name" })
          .default("X-Signature")
          .openapi({ description: "Header carrying the signature." }),
        algorithm: z.enum(HMAC_ALGORITHMS).default("sha256").openapi({ description: "HMAC hash function." }),
        encoding: z.enum(SIGNATURE_ENCODINGS).default("hex").openapi({ description: "How the signature is written." }),
        prefix: z.string().max(50).default("").openapi({ description: "Written before the signature, e.g. sha256=.", example: "sha256=" }),
      })
      .optional()
      .openapi({ description: "How credentials.hmac_secret signs the raw body (defaults: X-Signature, sha256, hex, no prefix)." }),
    timeout_ms: z.number().int().min(100).max(60_000).default(10_000).openapi({ description: "Per-request timeout." }),
    rate_limit: rateLimit,
  })
  .superRefine((config, ctx) => {
    if (config.request !== "batch") return;
    const urls: [string[], string | undefined][] = [
      [["url"], config.url],
      ...OPERATION_KINDS.map((op): [string[], string | undefined] => [["overrides", op, "url"], config.overrides?.[op]?.url]),
    ];
    for (const [path, url] of urls) {
      if (url === undefined) continue;
      const variables = safeVariables(url);
      if (variables.length > 0)
        ctx.addIssue({
          code: "custom",
          path,
          message: `in batch mode one request carries many rows, so the URL may not use variables (it uses ${variables.join(", ")})`,
        });
    }
  })
  .openapi("HttpConfig");
export type HttpConfig = z.output<typeof HttpConfig>;

function safeVariables(source: string): string[] {
  try {
    return compileTemplate(source).variables;
  } catch {
    return []; // reported by the field's own check
  }
}

/** Secrets of an `http` destination: one kind of auth (bearer or basic), a signing secret, secret headers. */
export const HttpCredentials = z
  .strictObject({
    bearer_token: secret().optional().openapi({ description: "Sent as Authorization: Bearer <token>." }),
    basic_username: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^:]*$/, { message: "must not contain ':'" })
      .optional()
      .openapi({
        description: "HTTP basic auth user (with basic_password).",
      }),
    basic_password: secret().optional().openapi({ description: "HTTP basic auth password (with basic_username)." }),
    hmac_secret: secret(16)
      .optional()
      .openapi({ description: "When set, each request carries an HMAC of its exact body (see config.signature)." }),
    headers: headers(true).optional().openapi({ description: "Secret headers, e.g. X-Api-Key." }),
  })
  .superRefine((c, ctx) => {
    if ((c.basic_username === undefined) !== (c.basic_password === undefined)) {
      const path = c.basic_username === undefined ? "basic_username" : "basic_password";
      ctx.addIssue({ code: "custom", path: [path], message: "basic auth needs both basic_username and basic_password" });
    }
    if (c.bearer_token !== undefined && c.basic_username !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["bearer_token"],
        message: "set bearer_token or basic auth, not both (both are the Authorization header)",
      });
    }
    const authorization = Object.keys(c.headers ?? {}).some((h) => h.toLowerCase() === "authorization");
    if (authorization && (c.bearer_token !== undefined || c.basic_username !== undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["headers", "Authorization"],
        message: "Authorization is already set by bearer_token or basic auth",
      });
    }
  })
  .openapi("HttpCredentials");
export type HttpCredentials = z.output<typeof HttpCredentials>;
