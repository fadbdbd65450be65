import { describe, expect, it } from "vitest";
import { GOOGLE_RULES } from "../../src/destinations/google_ads/schema";
import { type IdentifierKind, identifierValue, rowIdentifiers, type VendorRules } from "../../src/destinations/identifiers";
import { META_RULES } from "../../src/destinations/meta_audiences/schema";

/** The value a vendor gets for one raw identifier (normalised, then hashed where the vendor hashes it). */
async function sent(rules: VendorRules, kind: IdentifierKind, raw: string) {
  const rule = rules[kind];
  if (!rule) throw new Error(`${kind} is not accepted`);
  return identifierValue(rule, raw);
}

/** The normalised value alone: the rule applied without hashing. */
function normalized(rules: VendorRules, kind: IdentifierKind, raw: string) {
  const rule = rules[kind];
  if (!rule) throw new Error(`${kind} is not accepted`);
  return rule.normalize(raw);
}

describe("Meta's identifier hashing, against Meta's documented examples", () => {
  // https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
  // (the same normalisation as Custom Audiences: https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences)
  it.each([
    ["email", "John_Smith@gmail.com", "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"],
    ["email", "  John_Smith@GMAIL.com ", "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"],
    // "US phone number (650)555-1212 — Normalized format: 16505551212" (the country code is given with the number here).
    ["phone", "+1 (650)555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"],
    ["phone", "001-650-555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"],
    ["first_name", "Mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"],
    ["first_name", "Mary.", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"],
    ["first_name", "정", "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"],
    ["last_name", "Valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"],
    // The same name with a decomposed é (e + U+0301) is the same person.
    ["last_name", "Vale\u0301ry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"],
  ] as const)("%s %j → the documented SHA-256", async (kind, raw, hash) => {
    expect(await sent(META_RULES, kind, raw)).toEqual({ ok: true, value: hash });
  });

  it("normalises the other keys as Custom Audiences documents them, and sends MADID and EXTERN_ID in clear", async () => {
    expect(normalized(META_RULES, "zip", "94025-1234")).toEqual({ ok: true, value: "94025" });
    expect(normalized(META_RULES, "zip", "SW1A 1AA")).toEqual({ ok: true, value: "sw1a1aa" });
    expect(normalized(META_RULES, "country", "US")).toEqual({ ok: true, value: "us" });
    expect(normalized(META_RULES, "city", "Menlo Park")).toEqual({ ok: true, value: "menlopark" });
    expect(normalized(META_RULES, "gender", "Female")).toEqual({ ok: true, value: "f" });
    expect(await sent(META_RULES, "mobile_advertiser_id", " AB12CD34-0000-4E5F-8A9B-0123456789AB ")).toEqual({
      ok: true,
      value: "ab12cd34-0000-4e5f-8a9b-0123456789ab",
    });
    expect(await sent(META_RULES, "external_id", "crm-42")).toEqual({ ok: true, value: "crm-42" });
  });

  it("passes an already-hashed value through (lower-cased) and refuses values that cannot be normalised", async () => {
    const hash = "62A14E44F765419D10FEA99367361A727C12365E2520F32218D505ED9AA0F62F";
    expect(await sent(META_RULES, "email", hash)).toEqual({ ok: true, value: hash.toLowerCase() });
    expect(await sent(META_RULES, "email", "not an email")).toMatchObject({ ok: false, error: "is not an email address" });
    expect(await sent(META_RULES, "phone", "555-12")).toMatchObject({ ok: false });
    expect(await sent(META_RULES, "country", "USA")).toMatchObject({ ok: false });
    expect(await sent(META_RULES, "gender", "x")).toMatchObject({ ok: false });
  });
});

describe("Google's identifier normalisation, against Google's documented examples", () => {
  // https://developers.google.com/data-manager/api/get-started/formatting (Customer Match formatting),
  // https://developers.google.com/google-ads/api/reference/rpc/latest/OfflineUserAddressInfo
  it.each([
    ["email", "cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"],
    ["email", "user.name+NYC@Example.com", "user.name+nyc@example.com"],
    ["email", " Dana@Example.com ", "dana@example.com"],
    // "the US phone number (800)555-0100 should be formatted and normalized to +18005550100"
    ["phone", "+1 (800)555-0100", "+18005550100"],
    ["first_name", "  Mary  Ann ", "mary ann"],
    ["last_name", "O'Brien", "obrien"],
    ["country", "us", "US"],
    ["zip", " 94025 ", "94025"],
  ] as const)("%s %j → %j", (kind, raw, value) => {
    expect(normalized(GOOGLE_RULES, kind, raw)).toEqual({ ok: true, value });
  });

  // SHA-256 hex computed here, independently of the code under test.
  const digest = async (s: string) =>
    [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");

  it("hashes email, phone and names with SHA-256 of the normalised value; country and zip go in clear", async () => {
    expect(await sent(GOOGLE_RULES, "phone", "+1 800 555 0100")).toEqual({ ok: true, value: await digest("+18005550100") });
    expect(await sent(GOOGLE_RULES, "email", "Dana@Example.com")).toEqual({ ok: true, value: await digest("dana@example.com") });
    expect(await sent(GOOGLE_RULES, "country", "fr")).toEqual({ ok: true, value: "FR" });
    expect(await sent(GOOGLE_RULES, "zip", "75001")).toEqual({ ok: true, value: "75001" });
  });

  it("a delete without fields is matched by its key as key_identifier; unknown fields and empty rows are refused", async () => {
    const byKey = await rowIdentifiers(GOOGLE_RULES, { op: "delete", key: "Gone@Example.com", fields: {} }, "email");
    expect(byKey).toEqual({ ok: true, values: { email: await digest("gone@example.com") } });
    expect(await rowIdentifiers(GOOGLE_RULES, { op: "upsert", key: "1", fields: { city: "Paris" } }, "email")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/"city" is not an identifier/),
    });
    expect(await rowIdentifiers(META_RULES, { op: "upsert", key: "1", fields: { email: null, phone: "" } }, "email")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/no identifier/),
    });
  });
});
