import { importPKCS8, SignJWT } from "jose";
import { WarehouseError } from "../errors";

/**
 * How a Snowflake source proves who it is to the SQL API
 * (https://docs.snowflake.com/en/developer-guide/sql-api/authenticating):
 * - key-pair: a JWT signed (RS256, WebCrypto through `jose`) with the user's private key, whose
 *   issuer names the public key's fingerprint: iss `<ACCOUNT>.<USER>.SHA256:<base64 SHA-256 of the
 *   public key's DER>`, sub `<ACCOUNT>.<USER>`, at most one hour long, sent with
 *   `X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT`
 *   (https://docs.snowflake.com/en/developer-guide/snowflake-rest-api/authentication);
 * - a token: an OAuth access token or a programmatic access token (PAT), sent as it is. A PAT's
 *   type cannot be told from its text reliably, so no type header is sent and Snowflake decides
 *   ("If you omit the X-Snowflake-Authorization-Token-Type header, Snowflake determines the token
 *   type by examining the token").
 */

/** The headers that authenticate one request. */
export interface SnowflakeAuth {
  headers(): Promise<Record<string, string>>;
}

const JWT_LIFETIME_SECONDS = 3600;
// A JWT is renewed this long before it expires (clocks differ; a statement may be polled a while).
const RENEW_BEFORE_SECONDS = 300;

/**
 * The account as the JWT names it: upper case, and for an account locator with a region or cloud
 * (`xy12345.eu-central-1`, `xy12345.us-east-2.aws`) only the locator, as Snowflake's key-pair
 * guide says ("exclude any region information"). An `org-account` name stays as it is.
 */
export function jwtAccount(account: string): string {
  const name = account.trim().replace(/\.snowflakecomputing\.com$/i, "");
  return (name.split(".")[0] ?? name).toUpperCase();
}

/** `SHA256:<base64>` of the DER (SubjectPublicKeyInfo) of the public half of an RSA private key. */
async function publicKeyFingerprint(privateKey: CryptoKey): Promise<string> {
  const jwk = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    { kty: "RSA", n: jwk.n, e: jwk.e, ext: true },
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    true,
    ["verify"],
  );
  const der = new Uint8Array((await crypto.subtle.exportKey("spki", publicKey)) as ArrayBuffer);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  let binary = "";
  for (const b of digest) binary += String.fromCharCode(b);
  return `SHA256:${btoa(binary)}`;
}

/** Imports a PEM private key; a key Snowflake cannot use, or we cannot read, is `auth_failed` naming the fix. */
async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const text = pem.trim();
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text))
    throw new WarehouseError(
      "auth_failed",
      "credentials.private_key is encrypted; give the unencrypted PKCS#8 key (openssl pkcs8 -topk8 -nocrypt -in rsa_key.p8)",
    );
  if (/-----BEGIN RSA PRIVATE KEY-----/.test(text))
    throw new WarehouseError(
      "auth_failed",
      "credentials.private_key is a PKCS#1 key; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt -in key.pem)",
    );
  try {
    return await importPKCS8(text, "RS256", { extractable: true });
  } catch (err) {
    throw new WarehouseError("auth_failed", "credentials.private_key is not a PEM PKCS#8 RSA private key (-----BEGIN PRIVATE KEY-----)", {
      cause: err,
    });
  }
}

/** Key-pair authentication: one JWT, signed on first use and renewed before it expires. */
export function keyPairAuth(account: string, user: string, pem: string, now: () => number = Date.now): SnowflakeAuth {
  const subject = `${jwtAccount(account)}.${user.toUpperCase()}`;
  let signing: Promise<{ key: CryptoKey; issuer: string }> | undefined;
  let token: { jwt: string; expires: number } | undefined;
  return {
    async headers() {
      const seconds = Math.floor(now() / 1000);
      if (!token || token.expires - RENEW_BEFORE_SECONDS <= seconds) {
        signing ??= importPrivateKey(pem).then(async (key) => ({ key, issuer: `${subject}.${await publicKeyFingerprint(key)}` }));
        const { key, issuer } = await signing.catch((err: unknown) => {
          signing = undefined;
          throw err;
        });
        const expires = seconds + JWT_LIFETIME_SECONDS;
        const jwt = await new SignJWT({})
          .setProtectedHeader({ alg: "RS256", typ: "JWT" })
          .setIssuer(issuer)
          .setSubject(subject)
          .setIssuedAt(seconds)
          .setExpirationTime(expires)
          .sign(key);
        token = { jwt, expires };
      }
      return { authorization: `Bearer ${token.jwt}`, "x-snowflake-authorization-token-type": "KEYPAIR_JWT" };
    },
  };
}

/** OAuth or programmatic access token authentication (see the module comment). */
export function tokenAuth(token: string): SnowflakeAuth {
  return { headers: async () => ({ authorization: `Bearer ${token}` }) };
}
