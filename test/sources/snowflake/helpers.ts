/**
 * The fake Snowflake account of the Snowflake source tests (test/servers/snowflake.ts): a fresh
 * account per test under `/t/{name}`, the user's key pair made with WebCrypto and its public half
 * registered there, and the account's request log.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { WarehouseError } from "../../../src/sources/errors";
import { openSource } from "../../../src/sources/registry";
import type { Source, WarehouseOptions } from "../../../src/sources/source";
import type { AccountConfig } from "../../servers/snowflake";
import { uniqueName } from "../../harness/run";

export const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };

function pem(label: string, der: ArrayBuffer): string {
  let binary = "";
  for (const b of new Uint8Array(der)) binary += String.fromCharCode(b);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** A new RSA key pair as PEM: the private key (PKCS#8) and the public key (SPKI). */
export async function keyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  return {
    privateKey: pem("PRIVATE KEY", (await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer),
    publicKey: pem("PUBLIC KEY", (await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer),
  };
}

// One key pair for the file: generating RSA keys is slow-ish, and each account registers it anew.
const shared = keyPair();

/** A fake account: its endpoint, the user's private key and the fingerprint the fake computed. */
export interface Account {
  name: string;
  endpoint: string;
  privateKey: string;
  fingerprint: string;
  /** The source settings (config and credentials) of a key-pair source on it. */
  config: Record<string, string>;
  configure(config: Partial<AccountConfig>): Promise<void>;
  requests(): Promise<{ method: string; path: string; status: number; token_type?: string; at: number }[]>;
}

export async function snowflakeAccount(config: Partial<AccountConfig> = {}): Promise<Account> {
  const name = uniqueName("sf");
  const endpoint = `${env.SNOWFLAKE_URL}/t/${name}`;
  const { privateKey, publicKey } = await shared;
  let fingerprint = "";
  const configure = async (more: Partial<AccountConfig>) => {
    const res = await fetch(`${endpoint}/_config`, { method: "POST", body: JSON.stringify({ public_key: publicKey, ...config, ...more }) });
    fingerprint = ((await res.json()) as { fingerprint: string }).fingerprint;
  };
  await configure({});
  return {
    name,
    endpoint,
    privateKey,
    get fingerprint() {
      return fingerprint;
    },
    config: {
      account: "xy12345.eu-central-1",
      user: "retl",
      warehouse: "COMPUTE_WH",
      database: "ANALYTICS",
      schema: "PUBLIC",
      role: "RETL_READER",
      endpoint,
    },
    configure,
    requests: async () => ((await (await fetch(`${endpoint}/_state`)).json()) as { requests: [] }).requests,
  };
}

/** A source on the account: key pair by default, or the given credentials/config changes. */
export function openAccount(account: Account, changes: Record<string, string> = {}, o: WarehouseOptions = opts): Source {
  const credentials = "token" in changes || "private_key" in changes ? {} : { private_key: account.privateKey };
  return openSource("snowflake", JSON.stringify({ ...account.config, ...credentials, ...changes }), o);
}

/** Every line a model extracts (all columns), decoded as UTF-8. */
export async function extractLines(source: Source, sql: string): Promise<string[]> {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  await source.extract(sql, {
    columns: (fields) => fields.map((f) => f.name),
    line: (bytes) => void lines.push(decoder.decode(bytes)),
  });
  return lines;
}

/** The WarehouseError a promise rejects with (fails the test if it resolves). */
export async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toMatchObject({ name: "WarehouseError" });
  return err as WarehouseError;
}
