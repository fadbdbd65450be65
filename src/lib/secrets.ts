/**
 * Secrets at rest (connection strings, destination credentials, trigger secrets): AES-256-GCM under
 * the ENCRYPTION_KEY Worker secret, with the owning object's id as additional data so a ciphertext
 * copied onto another row does not decrypt. Format: "v1.<iv b64>.<ciphertext b64>".
 */
const keys = new Map<string, Promise<CryptoKey>>();

function importKey(encoded: string): Promise<CryptoKey> {
  let key = keys.get(encoded);
  if (!key) {
    const raw = base64ToBytes(encoded);
    if (raw.length !== 32) throw new Error("ENCRYPTION_KEY must be base64 of 32 bytes");
    key = crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    keys.set(encoded, key);
  }
  return key;
}

export async function encryptSecret(keyB64: string, plaintext: string, objectId: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(objectId) },
    await importKey(keyB64),
    new TextEncoder().encode(plaintext),
  );
  return `v1.${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(ct))}`;
}

export async function decryptSecret(keyB64: string, sealed: string, objectId: string): Promise<string> {
  const [version, iv, ct] = sealed.split(".");
  if (version !== "v1" || !iv || !ct) throw new Error("unknown secret format");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: base64ToBytes(iv), additionalData: new TextEncoder().encode(objectId) },
    await importKey(keyB64),
    base64ToBytes(ct),
  );
  return new TextDecoder().decode(plain);
}

function bytesToBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** "postgres://user:secret@host/db" → "postgres://user:****@host/db". */
export function maskConnectionString(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    for (const k of [...u.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, "****");
    }
    return u.toString();
  } catch {
    return "****";
  }
}

/** Each credential field with its value masked, keeping the last 4 characters of long values. */
export function maskCredentials(credentials: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(credentials)) {
    const s = String(v);
    out[k] = s.length > 12 ? `****${s.slice(-4)}` : "****";
  }
  return out;
}
