/**
 * A Google service account key file (the JSON the console's "Create key" downloads): what the JWT
 * grant needs from it, checked when the source is saved so a pasted file that cannot work is a
 * 400 naming the problem rather than a failed run later.
 */

/** The key file's fields the grant uses. */
export interface ServiceAccountKey {
  client_email: string;
  private_key_id: string;
  /** PKCS #8 PEM (`-----BEGIN PRIVATE KEY-----`), as Google issues it. */
  private_key: string;
  /** Where the signed JWT is exchanged for an access token. */
  token_uri: string;
}

const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
const PEM = /^-----BEGIN PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PRIVATE KEY-----\s*$/;

/** The key file's fields, or what is wrong with it (never quoting the key). */
export function parseServiceAccountKey(text: string): ServiceAccountKey | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { problem: "must be the service account's JSON key file; this is not valid JSON" };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return { problem: "must be the service account's JSON key file (a JSON object)" };
  const file = parsed as Record<string, unknown>;
  if (file.type !== "service_account")
    return { problem: `must be a service account key file ("type": "service_account"), not ${JSON.stringify(file.type ?? null)}` };
  const missing = ["client_email", "private_key_id", "private_key"].filter((k) => typeof file[k] !== "string" || file[k] === "");
  if (missing.length > 0) return { problem: `the key file has no ${missing.join(", ")}` };
  const key = file as Record<"client_email" | "private_key_id" | "private_key", string> & { token_uri?: unknown };
  if (!/^[^@\s]+@[^@\s]+$/.test(key.client_email)) return { problem: "the key file's client_email is not an email address" };
  if (!PEM.test(key.private_key.replaceAll("\\n", "\n")))
    return { problem: "the key file's private_key is not a PEM private key (-----BEGIN PRIVATE KEY-----)" };
  const tokenUri = key.token_uri === undefined ? GOOGLE_TOKEN_URI : key.token_uri;
  if (typeof tokenUri !== "string" || !/^https?:\/\//.test(tokenUri) || !URL.canParse(tokenUri))
    return { problem: "the key file's token_uri is not an http(s) URL" };
  return {
    client_email: key.client_email,
    private_key_id: key.private_key_id,
    private_key: key.private_key.replaceAll("\\n", "\n"),
    token_uri: tokenUri,
  };
}
