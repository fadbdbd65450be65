import type { MiddlewareHandler } from "hono";
import { and, eq, isNull, lt } from "drizzle-orm";
import { createDb, type Database } from "../db/client";
import { apiTokens, idempotencyKeys, type TokenScope } from "../db/schema";
import { newId } from "../lib/ids";
import { sha256Hex, timingSafeEqual } from "../lib/crypto";
import { decryptSecret, encryptSecret } from "../lib/secrets";
import { ApiError, errorBody } from "./errors";
import type { AppEnv, Principal } from "./env";

export const DEFAULT_WORKSPACE_ID = "wsp_default";

/** A D1 Sessions bookmark as D1 hands them out (hex groups joined by dashes). */
const BOOKMARK = /^[0-9a-f]{1,32}(-[0-9a-f]{1,32}){0,7}$/i;

/**
 * Sets `requestId` (honouring a sane incoming X-Request-Id) and the request's D1 session. Reads
 * may be served by a read replica ("first-unconstrained"), writes start at the primary; a client
 * that sends back the `X-D1-Bookmark` of its last response reads at least what it wrote.
 */
export function requestContext(): MiddlewareHandler<AppEnv> {
  return async function requestContext(c, next) {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : newId("request");
    c.set("requestId", requestId);
    c.header("X-Request-Id", requestId);
    const bookmark = c.req.header("x-d1-bookmark");
    if (bookmark !== undefined && !BOOKMARK.test(bookmark)) {
      throw new ApiError("bad_request", "X-D1-Bookmark must be a bookmark from an earlier response's X-D1-Bookmark header");
    }
    const reading = c.req.method === "GET" || c.req.method === "HEAD";
    const session = c.env.DB.withSession(bookmark ?? (reading ? "first-unconstrained" : "first-primary"));
    c.set("db", createDb(session));
    await next();
    const latest = session.getBookmark();
    if (latest) c.header("X-D1-Bookmark", latest);
  };
}

const rank: Record<TokenScope, number> = { read: 0, write: 1, admin: 2 };
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Bearer authentication. Tokens are looked up by SHA-256 hash; ADMIN_TOKEN is the bootstrap admin of
 * the default workspace. Reads need `read`, any other method `write`; routes may demand more.
 */
export function bearerAuth(): MiddlewareHandler<AppEnv> {
  return async function bearerAuth(c, next) {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      throw new ApiError("unauthorized", "missing Authorization: Bearer <token> header");
    }
    const token = match[1];
    const hash = await sha256Hex(token);
    if (c.env.ADMIN_TOKEN && timingSafeEqual(hash, await adminTokenHash(c.env.ADMIN_TOKEN))) {
      c.set("principal", { workspaceId: DEFAULT_WORKSPACE_ID, scope: "admin", tokenId: null, tokenName: "ADMIN_TOKEN" });
    } else {
      const known = await lookUpToken(c.var.db, hash);
      if (!known) throw new ApiError("unauthorized", "invalid or revoked API token");
      c.set("principal", known.principal);
      // last_used_at at minute resolution: at most one write per token per minute, off the response path.
      const now = Date.now();
      if (now - known.lastUsedAt > LAST_USED_RESOLUTION_MS) {
        known.lastUsedAt = now;
        c.executionCtx.waitUntil(
          c.var.db
            .update(apiTokens)
            .set({ lastUsedAt: new Date(now).toISOString() })
            .where(eq(apiTokens.id, known.principal.tokenId ?? ""))
            .then(() => undefined),
        );
      }
    }
    const needed: TokenScope = c.req.method === "GET" || c.req.method === "HEAD" ? "read" : "write";
    requireScopeOf(c.var.principal.scope, needed);
    await next();
  };
}

/** ADMIN_TOKEN's hash, computed once per isolate (and again if the secret changes). */
let adminHash: { token: string; hash: Promise<string> } | undefined;
function adminTokenHash(token: string): Promise<string> {
  if (adminHash?.token !== token) adminHash = { token, hash: sha256Hex(token) };
  return adminHash.hash;
}

/**
 * Tokens looked up in the last {@link TOKEN_CACHE_MS}, by hash, in this isolate: a request with a
 * known token makes no D1 round trip for it. A revocation clears it here at once
 * ({@link forgetToken}) and in other isolates within the TTL.
 */
const TOKEN_CACHE_MS = 10_000;
const TOKEN_CACHE_SIZE = 1000;
interface KnownToken {
  principal: Principal;
  /** Epoch ms of last_used_at as last written (0 = never). */
  lastUsedAt: number;
  expiresAt: number;
}
const knownTokens = new Map<string, KnownToken>();

async function lookUpToken(db: Database, hash: string): Promise<KnownToken | undefined> {
  const now = Date.now();
  const cached = knownTokens.get(hash);
  if (cached && cached.expiresAt > now) return cached;
  knownTokens.delete(hash);
  const row = await db.query.apiTokens.findFirst({ where: and(eq(apiTokens.tokenHash, hash), isNull(apiTokens.revokedAt)) });
  if (!row) return undefined;
  const known: KnownToken = {
    principal: { workspaceId: row.workspaceId, scope: row.scope, tokenId: row.id, tokenName: row.name },
    lastUsedAt: row.lastUsedAt ? Date.parse(row.lastUsedAt) : 0,
    expiresAt: now + TOKEN_CACHE_MS,
  };
  // Oldest first out: a Map iterates in insertion order.
  if (knownTokens.size >= TOKEN_CACHE_SIZE) knownTokens.delete(knownTokens.keys().next().value ?? "");
  knownTokens.set(hash, known);
  return known;
}

/** Drops a revoked token from this isolate's cache (other isolates drop it within the TTL). */
export function forgetToken(tokenId: string): void {
  for (const [hash, known] of knownTokens) if (known.principal.tokenId === tokenId) knownTokens.delete(hash);
}

function requireScopeOf(have: TokenScope, need: TokenScope): void {
  if (rank[have] < rank[need]) {
    throw new ApiError("forbidden", `this token has scope "${have}"; this request needs "${need}"`);
  }
}

/** Demands a scope above the method's default (e.g. admin for token management). */
export function requireScope(need: TokenScope): MiddlewareHandler<AppEnv> {
  return async function requireScope(c, next) {
    requireScopeOf(c.var.principal.scope, need);
    await next();
  };
}

const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Idempotency-Key on POST: the first response (below 500) is stored and replayed for 24 hours to
 * retries with the same key, endpoint and body. A different body or endpoint under the same key,
 * or a retry while the first request is still running, answers 409. Stored bodies are encrypted.
 */
export function idempotency(): MiddlewareHandler<AppEnv> {
  return async function idempotency(c, next) {
    const key = c.req.header("idempotency-key");
    if (c.req.method !== "POST" || key === undefined) return next();
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new ApiError("bad_request", "Idempotency-Key must be 1-255 visible ASCII characters");
    }
    const db = c.var.db;
    const workspaceId = c.var.principal.workspaceId;
    const endpoint = `POST ${c.req.path}`;
    const requestHash = await sha256Hex(await c.req.text());
    const where = and(eq(idempotencyKeys.workspaceId, workspaceId), eq(idempotencyKeys.key, key));
    const now = new Date();
    await db
      .delete(idempotencyKeys)
      .where(and(where, lt(idempotencyKeys.createdAt, new Date(now.getTime() - IDEMPOTENCY_TTL_MS).toISOString())));
    // Claim the key (status 0 = in progress); losing the race means another request holds it.
    const claimed = await db
      .insert(idempotencyKeys)
      .values({ workspaceId, key, endpoint, requestHash, status: 0, body: "", createdAt: now.toISOString() })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    if (claimed.length === 0) {
      const prior = await db.query.idempotencyKeys.findFirst({ where });
      if (!prior || prior.status === 0) {
        throw new ApiError("idempotency_conflict", "a request with this Idempotency-Key is still in progress");
      }
      if (prior.endpoint !== endpoint || prior.requestHash !== requestHash) {
        throw new ApiError(
          "idempotency_conflict",
          "this Idempotency-Key was already used with a different request; use a new key for a new request",
        );
      }
      // Stored sealed: a replayed response may carry a secret shown once (a new API token).
      const replay = await decryptSecret(c.env.ENCRYPTION_KEY, prior.body, `${workspaceId}/${key}`);
      return new Response(replay, {
        status: prior.status,
        headers: { "content-type": "application/json", "idempotent-replayed": "true", "x-request-id": c.var.requestId },
      });
    }
    try {
      await next();
    } finally {
      const res = c.res;
      if (res.status >= 500) {
        await db.delete(idempotencyKeys).where(where);
      } else {
        const body = await res.clone().text();
        const sealed = await encryptSecret(c.env.ENCRYPTION_KEY, body, `${workspaceId}/${key}`);
        await db.update(idempotencyKeys).set({ status: res.status, body: sealed }).where(where);
      }
    }
  };
}

/** JSON 404 for unknown routes. */
export function notFoundHandler(c: Parameters<MiddlewareHandler<AppEnv>>[0]) {
  return c.json(errorBody(c, "not_found", `no route for ${c.req.method} ${c.req.path}`), 404);
}
