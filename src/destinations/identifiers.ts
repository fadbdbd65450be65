import { sha256Hex } from "../lib/crypto";
import type { DestinationField, Operation, SyncShape } from "./destination";

/**
 * The people identifiers audience destinations (Google Ads Customer Match, Meta Custom Audiences)
 * match members by, normalised and SHA-256 hashed by each vendor's documented rules. A vendor's
 * rules are data ({@link VendorRules}); the normalisers below are shared. Destination field names
 * of an audience sync are these kinds.
 */

/** Every identifier kind an audience destination may accept (the destination field names). */
const IDENTIFIER_KINDS = [
  "email",
  "phone",
  "first_name",
  "last_name",
  "city",
  "state",
  "zip",
  "country",
  "gender",
  "mobile_advertiser_id",
  "external_id",
] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

/** How one vendor treats one identifier kind. */
export interface IdentifierRule {
  /** Normalises a raw value, or explains why it cannot be used. */
  normalize: Normalizer;
  /** SHA-256 hex of the normalised value is sent (an already-hashed value passes as it is). */
  hashed: boolean;
  label: string;
}

/** A vendor's identifier kinds: only those listed are accepted as destination fields. */
export type VendorRules = Partial<Record<IdentifierKind, IdentifierRule>>;

type Normalized = { ok: true; value: string } | { ok: false; error: string };
type Normalizer = (raw: string) => Normalized;

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const ok = (value: string): Normalized => ({ ok: true, value });
const bad = (error: string): Normalized => ({ ok: false, error });

/** Trimmed and lower-cased; must look like an address. */
export const email: Normalizer = (raw) => {
  const value = raw.trim().toLowerCase();
  return /^[^@\s]+@[^@\s]+$/.test(value) ? ok(value) : bad("is not an email address");
};

/**
 * Google: also, for gmail.com and googlemail.com, no dots and no "+tag" before the @
 * ("cloudy.sanfrancisco+shopping@gmail.com" → "cloudysanfrancisco@gmail.com"; other domains keep both).
 */
export const emailGoogle: Normalizer = (raw) => {
  const base = email(raw.replace(/\s+/g, ""));
  if (!base.ok) return base;
  const at = base.value.lastIndexOf("@");
  const [local, domain] = [base.value.slice(0, at), base.value.slice(at + 1)];
  if (domain !== "gmail.com" && domain !== "googlemail.com") return base;
  return ok(`${local.replace(/\+.*$/, "").replaceAll(".", "")}@${domain}`);
};

/** The digits of a phone number with its country code, without leading zeros (an international "00" prefix included). */
function phoneDigits(raw: string): Normalized {
  const digits = raw.replace(/\D/g, "").replace(/^0+/, "");
  // E.164: at most 15 digits, country code included; fewer than 8 cannot carry one.
  return digits.length >= 8 && digits.length <= 15 ? ok(digits) : bad("is not a phone number with its country code (E.164)");
}

/** Meta: digits only, country code first, no leading zeros ("(650)555-1212" as a US number: "16505551212"). */
export const phoneDigitsOnly: Normalizer = phoneDigits;

/** Google: E.164 with its plus sign ("+16505551212"). */
export const phoneE164: Normalizer = (raw) => {
  const digits = phoneDigits(raw);
  return digits.ok ? ok(`+${digits.value}`) : digits;
};

/** Lower-cased, without punctuation or symbols; letters outside a-z are kept (UTF-8). */
const lowerNoPunctuation = (raw: string) =>
  raw
    .normalize("NFC")
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, "");

/** Names without punctuation or any spaces (Meta: "Mary-Ann" → "maryann"). */
export const nameNoSpaces: Normalizer = (raw) => nonEmpty(lowerNoPunctuation(raw).replace(/\s+/g, ""));

/** Names without punctuation, spaces trimmed and collapsed (Google: "Remove any extra spaces before, after, and in between"). */
export const nameCollapsedSpaces: Normalizer = (raw) => nonEmpty(lowerNoPunctuation(raw).replace(/\s+/g, " ").trim());

/** Meta's US-style zip: lower-cased, no spaces; a ZIP+4 keeps its first five digits. */
export const zipMeta: Normalizer = (raw) => {
  const value = raw.toLowerCase().replace(/\s+/g, "");
  const zip4 = /^(\d{5})-\d{4}$/.exec(value);
  return nonEmpty(zip4?.[1] ?? value);
};

/** A postal code as given, trimmed (Google sends it in clear). */
export const zipPlain: Normalizer = (raw) => nonEmpty(raw.trim());

/** ISO 3166-1 alpha-2, in the case the vendor wants. */
export const countryCode =
  (upper: boolean): Normalizer =>
  (raw) => {
    const value = raw.trim();
    if (!/^[A-Za-z]{2}$/.test(value)) return bad("is not a two-letter ISO 3166-1 country code");
    return ok(upper ? value.toUpperCase() : value.toLowerCase());
  };

/** Meta's gender: "m" or "f". */
export const gender: Normalizer = (raw) => {
  const first = raw.trim().toLowerCase()[0];
  return first === "m" || first === "f" ? ok(first) : bad('is not a gender Meta knows ("m" or "f")');
};

/** Lower-cased letters only, no spaces or punctuation (Meta's city and state). */
export const lettersOnly: Normalizer = (raw) => nonEmpty(lowerNoPunctuation(raw).replace(/\s+/g, ""));

/** Trimmed, optionally lower-cased (device ids, your own user ids). */
export const plain =
  (lower: boolean): Normalizer =>
  (raw) =>
    nonEmpty(lower ? raw.trim().toLowerCase() : raw.trim());

function nonEmpty(value: string): Normalized {
  return value === "" ? bad("is empty once normalised") : ok(value);
}

/**
 * The value to send for one identifier: hashed kinds are normalised then SHA-256 hashed (a value
 * that already is a SHA-256 hex digest is sent lower-cased as it is); clear kinds are normalised.
 */
export async function identifierValue(rule: IdentifierRule, raw: string): Promise<Normalized> {
  if (rule.hashed && SHA256_HEX.test(raw.trim())) return ok(raw.trim().toLowerCase());
  const normalized = rule.normalize(raw);
  if (!normalized.ok || !rule.hashed) return normalized;
  return ok(await sha256Hex(normalized.value));
}

/** One row's identifiers as the vendor wants them, by kind; or why the row cannot be sent. */
export type RowIdentifiers = { ok: true; values: Partial<Record<IdentifierKind, string>> } | { ok: false; error: string };

/**
 * The identifiers of one operation. A delete carries no fields (a row gone from the model leaves
 * only its key), so its key is taken as the `keyIdentifier` kind; empty values are skipped.
 */
export async function rowIdentifiers(rules: VendorRules, op: Operation, keyIdentifier: IdentifierKind): Promise<RowIdentifiers> {
  const raw: Record<string, unknown> = op.op === "delete" && Object.keys(op.fields).length === 0 ? { [keyIdentifier]: op.key } : op.fields;
  const values: Partial<Record<IdentifierKind, string>> = {};
  for (const [name, value] of Object.entries(raw)) {
    const rule = rules[name as IdentifierKind];
    if (!rule) return { ok: false, error: `"${name}" is not an identifier this destination accepts` };
    if (value === null || value === undefined || value === "") continue;
    const text = typeof value === "string" ? value : String(value);
    const result = await identifierValue(rule, text);
    if (!result.ok) return { ok: false, error: `${name} ${JSON.stringify(text.slice(0, 100))} ${result.error}` };
    values[name as IdentifierKind] = result.value;
  }
  if (Object.keys(values).length === 0) return { ok: false, error: "the row has no identifier to match a person by" };
  return { ok: true, values };
}

/** The vendor's identifier kinds as destination fields, for mapping suggestions in the console. */
export function identifierFields(rules: VendorRules, keyIdentifier?: IdentifierKind): DestinationField[] {
  return Object.entries(rules).map(([name, rule]) => ({
    name,
    label: rule.label,
    type: "string",
    required: false,
    ...(name === keyIdentifier ? { identifier: true } : {}),
  }));
}

/**
 * What an audience destination finds wrong with a sync: destination fields that are not its
 * identifier kinds, no identifier at all, and in mirror mode a primary key that is not mapped to
 * `keyIdentifier` (a row gone from the model leaves only its key, so removals match by it).
 */
export function audienceSyncProblems(
  vendor: string,
  rules: VendorRules,
  keyIdentifier: IdentifierKind,
  sync: SyncShape,
): { path: string; message: string }[] {
  const accepted = Object.keys(rules);
  const problems: { path: string; message: string }[] = [];
  sync.mappings.forEach((m, i) => {
    if (!accepted.includes(m.destination)) {
      problems.push({
        path: `field_mappings.${i}.destination`,
        message: `${vendor} matches people by ${accepted.join(", ")}; "${m.destination}" is none of them`,
      });
    }
  });
  if (sync.mappings.length === 0) {
    problems.push({ path: "field_mappings", message: `map at least one identifier (${accepted.join(", ")})` });
  }
  if (sync.mode === "mirror" && problems.length === 0) {
    const index = sync.mappings.findIndex((m) => m.destination === keyIdentifier);
    const mapping = sync.mappings[index];
    if (mapping?.source !== sync.primaryKey) {
      problems.push({
        path: index < 0 ? "field_mappings" : `field_mappings.${index}.source`,
        message: `mirror mode removes members who left the model by config.key_identifier "${keyIdentifier}", but a row gone from the model leaves only its primary key "${sync.primaryKey}": map "${sync.primaryKey}" to "${keyIdentifier}" (set key_identifier to the kind the key holds), or use upsert mode`,
      });
    }
  }
  return problems;
}
