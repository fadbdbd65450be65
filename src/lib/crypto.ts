/** Hex SHA-256 of a string (token hashes, request fingerprints). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(new Uint8Array(digest));
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Random URL-safe secret with `bytes` of entropy. */
export function randomSecret(bytes = 24): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replaceAll("=", "");
}

/** Constant-time comparison of two strings of hex or ASCII. */
export function timingSafeEqual(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  if (ea.length !== eb.length) return false;
  return crypto.subtle.timingSafeEqual(ea, eb);
}

/** Hex HMAC-SHA256 of `body` under `secret`. */
export function hmacSha256Hex(secret: string, body: string | Uint8Array): Promise<string> {
  return hmacSign(secret, body, "sha256", "hex");
}

/** Hash functions a body signature may use. */
export const HMAC_ALGORITHMS = ["sha256", "sha512"] as const;
/** How a signature is written in its header. */
export const SIGNATURE_ENCODINGS = ["hex", "base64"] as const;

const WEBCRYPTO_HASH = { sha256: "SHA-256", sha512: "SHA-512" } as const;

/** HMAC of `body` under `secret` (request signing: webhooks, the http destination), as hex or base64. */
export async function hmacSign(
  secret: string,
  body: string | Uint8Array,
  algorithm: (typeof HMAC_ALGORITHMS)[number],
  encoding: (typeof SIGNATURE_ENCODINGS)[number],
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: WEBCRYPTO_HASH[algorithm] },
    false,
    ["sign"],
  );
  const data = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
  return encoding === "hex" ? toHex(mac) : btoa(String.fromCharCode(...mac));
}
