import { z } from "@hono/zod-openapi";
import { blockedHostReason } from "../lib/ssrf";
import type { DestinationHost } from "./destination";

/**
 * Schema pieces several destination types share: secrets, HTTP headers and URLs, local vendor
 * fakes and the rate-limit override. Each type's own schemas live in its folder's schema.ts.
 */

/** A secret string (a token, a password): never returned, only masked. */
export const secret = (min = 1) => z.string().min(min).max(4096);

// Header names are RFC 9110 tokens; values must not smuggle a line break.
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/, { message: "must be a valid HTTP header name" });
const headerValue = z
  .string()
  .max(4096)
  .regex(/^[^\r\n\0]*$/, { message: "must not contain line breaks" });

// Set by the connector itself; a user value would corrupt the request.
const RESERVED_HEADERS = new Set(["host", "content-length", "content-type", "transfer-encoding", "connection"]);
// Values of these belong in credentials.headers, where they are encrypted and masked.
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|token|secret|api[-_]?key|password/i;

/** Extra HTTP headers; with `allowSecret` false, names that look secret are refused (they belong in credentials). */
export const headers = (allowSecret: boolean) =>
  z.record(headerName, headerValue).superRefine((h, ctx) => {
    for (const name of Object.keys(h)) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        ctx.addIssue({ code: "custom", path: [name], message: `"${name}" is set by the connector and cannot be overridden` });
      } else if (!allowSecret && SECRET_HEADER.test(name)) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `"${name}" looks like a secret; put it in credentials.headers, which are encrypted and never returned`,
        });
      }
    }
    if (Object.keys(h).length > 50) ctx.addIssue({ code: "custom", message: "at most 50 headers" });
  });

/** An http(s) URL without a user or password (config is returned as is, so one would leak). */
export const httpUrl = z
  .string()
  .max(2048)
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { message: "must be an http:// or https:// URL" })
  .refine((s) => !URL.canParse(s) || (new URL(s).username === "" && new URL(s).password === ""), {
    message: "must not carry a user or password; put an Authorization header in credentials.headers",
  });

/**
 * Whether a URL hostname is a private/loopback/link-local address or a local-only name: the same
 * judgement as the send-time SSRF guard, so nothing saved is refused later (or the reverse).
 */
export function isPrivateHost(hostname: string): boolean {
  return blockedHostReason(hostname) !== undefined;
}

/** An http(s) URL on a literal private/loopback host: where local fakes of vendor APIs live. */
export function isLocalUrl(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const url = new URL(s);
  return /^https?:$/.test(url.protocol) && url.username === "" && url.password === "" && isPrivateHost(url.hostname);
}

/** A local fake's base URL (refused at save time unless ALLOW_PRIVATE_DESTINATIONS, through the type's hosts()). */
const localUrl = z
  .string()
  .max(2048)
  .refine(isLocalUrl, { message: "must be an http(s) URL on a private or loopback host (local development only)" });

/**
 * A vendor's URL replaced by a local fake's (`api_base`, `token_url`): optional, on a private or
 * loopback host, refused at save time unless ALLOW_PRIVATE_DESTINATIONS (see {@link vendorHost}).
 * `replaces` says what it stands for, e.g. "https://api.hubapi.com (e.g. a fake HubSpot)".
 */
export const localOverride = (replaces: string, what = "base URL") =>
  localUrl.optional().openapi({
    description: `Local development only: a private/loopback ${what} replacing ${replaces}. Refused unless the deployment sets ALLOW_PRIVATE_DESTINATIONS.`,
  });

/**
 * The host a destination contacts for a {@link localOverride} at `path`: the vendor's own (at
 * `vendor.path`, by default the same) when the override is unset, else the override, refused
 * outside local development with how to go back to the vendor (`vendor.name`, by default its URL):
 * secrets may only ever go to the vendor itself.
 */
export function vendorHost(
  path: string,
  override: string | undefined,
  vendor: { url: string; path?: string; name?: string },
): DestinationHost {
  if (override === undefined) return { path: vendor.path ?? path, url: vendor.url };
  return {
    path,
    url: override,
    refusal: `is for local development only (ALLOW_PRIVATE_DESTINATIONS); remove it to use ${vendor.name ?? vendor.url}`,
  };
}

/**
 * Requests per second and requests in flight allowed against the destination account, shared by
 * every sync that writes to it (enforced per destination by the DestinationLimiter). Each field
 * left out takes the vendor's documented limit (the connector's default).
 */
const RateLimitConfig = z
  .strictObject({
    requests_per_second: z.number().min(0.1).max(1000).optional().openapi({ description: "0.1-1000; bursts up to one second's worth." }),
    concurrency: z.number().int().min(1).max(100).optional().openapi({ description: "Requests in flight at once, 1-100." }),
  })
  .openapi("DestinationRateLimit");

/** The optional `rate_limit` every destination config carries. */
export const rateLimit = RateLimitConfig.optional().openapi({
  description:
    "Overrides the vendor's default rate limit for this destination account. It is a ceiling: the limiter goes slower when the destination answers 429 or advertises a lower limit (see the destination's rate_limit_observed).",
});
