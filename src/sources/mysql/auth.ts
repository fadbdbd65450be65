/**
 * Answers to the server's authentication challenge, per plug-in
 * (https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods.html),
 * computed with WebCrypto. Supported: `mysql_native_password` (MariaDB's and MySQL 5.7's default),
 * `caching_sha2_password` (MySQL 8's default: fast path, and full authentication over TLS or with
 * the server's RSA key) and `mysql_clear_password` (over TLS only).
 */

const encoder = new TextEncoder();

/** The authentication plug-ins we can answer. */
export const AUTH_PLUGINS = ["mysql_native_password", "caching_sha2_password", "mysql_clear_password"] as const;

async function digest(algorithm: "SHA-1" | "SHA-256", ...parts: Uint8Array[]): Promise<Uint8Array> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest(algorithm, joined));
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((v, i) => v ^ (b[i % b.length] ?? 0));
}

/** `mysql_native_password`: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))). */
export async function nativePassword(password: string, nonce: Uint8Array): Promise<Uint8Array> {
  if (password === "") return new Uint8Array(0);
  const stage1 = await digest("SHA-1", encoder.encode(password));
  const stage2 = await digest("SHA-1", stage1);
  return xor(stage1, await digest("SHA-1", nonce, stage2));
}

/** `caching_sha2_password`'s fast path: SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce). */
export async function sha2Password(password: string, nonce: Uint8Array): Promise<Uint8Array> {
  if (password === "") return new Uint8Array(0);
  const stage1 = await digest("SHA-256", encoder.encode(password));
  const stage2 = await digest("SHA-256", stage1);
  return xor(stage1, await digest("SHA-256", stage2, nonce));
}

/** The password NUL-terminated: full authentication over TLS, and `mysql_clear_password`. */
export function clearPassword(password: string): Uint8Array {
  const bytes = encoder.encode(password);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Full authentication without TLS: the NUL-terminated password XOR the nonce, RSA-OAEP encrypted with the server's key (PEM). */
export async function rsaEncryptedPassword(password: string, nonce: Uint8Array, pem: string): Promise<Uint8Array> {
  const body = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("spki", der, { name: "RSA-OAEP", hash: "SHA-1" }, false, ["encrypt"]);
  return new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, key, xor(clearPassword(password), nonce)));
}
