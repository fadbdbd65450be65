import { describe, expect, it } from "vitest";
import { DESTINATION_TYPES, destinationOf } from "../../src/destinations/registry";
import { retryAfterSeconds } from "../../src/lib/http";
import { blockedHostReason, checkOutboundUrl } from "../../src/lib/ssrf";

const deny = { allowPrivate: false };

describe("checkOutboundUrl", () => {
  it.each([
    "https://hooks.example.com/crm",
    "http://example.com:8080/x?y=1",
    "http://93.184.216.34/",
    "https://[2606:4700:4700::1111]/",
    "http://172.32.0.1/", // just past 172.16/12
    "http://100.128.0.1/", // just past 100.64/10
    "http://192.169.0.1/",
    "http://11.0.0.1/",
    "https://localhost.example.com/", // only the name localhost itself and *.localhost are local
  ])("allows the public URL %s", (url) => {
    expect(checkOutboundUrl(url, deny)).toEqual({ ok: true });
  });

  it.each([
    ["ftp://example.com/file", /only http and https/],
    ["file:///etc/passwd", /only http and https/],
    ["javascript:alert(1)", /only http and https/],
    ["gopher://127.0.0.1:6379/_INFO", /only http and https/],
    ["not a url", /not a valid URL/],
  ])("refuses %s", (url, reason) => {
    const verdict = checkOutboundUrl(url, deny);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(reason);
  });

  it.each([
    ["http://10.0.0.1/", /private/],
    ["http://10.255.255.255/", /private/],
    ["http://172.16.5.4/", /private/],
    ["http://172.31.255.255/", /private/],
    ["http://192.168.1.1/", /private/],
    ["http://127.0.0.1:8787/", /loopback/],
    ["http://127.1.2.3/", /loopback/],
    ["http://[::1]/", /loopback/],
    ["http://169.254.169.254/latest/meta-data/", /link-local.*metadata/],
    ["http://[fe80::1]/", /link-local/],
    ["http://[fc00::1]/", /unique-local/],
    ["http://[fd12:3456::1]/", /unique-local/],
    ["http://0.0.0.0/", /this network/],
    ["http://0.1.2.3/", /this network/],
    ["http://100.64.0.1/", /carrier-grade NAT/],
    ["http://100.127.255.255/", /carrier-grade NAT/],
    ["http://224.0.0.1/", /multicast/],
    ["http://255.255.255.255/", /reserved/],
    ["http://[::ffff:127.0.0.1]/", /IPv4-mapped.*loopback/],
    ["http://[::ffff:7f00:1]/", /IPv4-mapped.*loopback/],
    ["http://[::ffff:169.254.169.254]/", /IPv4-mapped.*link-local/],
    ["http://[::ffff:10.1.2.3]/", /IPv4-mapped.*private/],
    ["http://[64:ff9b::a9fe:a9fe]/", /NAT64.*link-local/],
    ["http://[2002:7f00:1::]/", /6to4.*loopback/],
    ["http://[::]/", /unspecified/],
    ["http://2130706433/", /loopback/], // decimal 127.0.0.1
    ["http://0x7f.1/", /loopback/], // hex + short form
    ["http://0x7f000001/", /loopback/],
    ["http://0177.0.0.1/", /loopback/], // octal
    ["http://017700000001/", /loopback/],
    ["http://0xa9.0xfe.0xa9.0xfe/", /link-local/],
    ["http://localhost/", /loopback name/],
    ["http://LOCALHOST./", /loopback name/],
    ["http://api.localhost:3000/", /loopback name/],
    ["http://metadata.google.internal/computeMetadata/v1/", /metadata/],
    ["http://metadata/computeMetadata/v1/", /metadata/],
    ["http://printer.local/", /local-network/],
    ["http://intranet/", /single-label/],
  ])("refuses the private URL %s", (url, reason) => {
    const verdict = checkOutboundUrl(url, deny);
    expect(verdict.ok, url).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(reason);
  });

  it("allows private hosts when allowPrivate is set, but still only http(s)", () => {
    expect(checkOutboundUrl("http://127.0.0.1:8787/hook", { allowPrivate: true })).toEqual({ ok: true });
    expect(checkOutboundUrl("http://169.254.169.254/", { allowPrivate: true })).toEqual({ ok: true });
    expect(checkOutboundUrl("file:///etc/passwd", { allowPrivate: true }).ok).toBe(false);
  });
});

describe("blockedHostReason", () => {
  // Bare hosts (e.g. a Postgres connection's), not normalised by the URL parser first.
  it.each([
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "127.0.0.1",
    "::ffff:127.0.0.1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "::ffff:a9fe:a9fe",
    "fe80::1%eth0",
  ])("refuses the bare host %s", (host) => {
    expect(blockedHostReason(host)).toBeTypeOf("string");
  });

  it.each(["db.example.com", "8.8.8.8", "2606:4700::1111"])("allows the bare host %s", (host) => {
    expect(blockedHostReason(host)).toBeUndefined();
  });

  it("rejects malformed IPv6 instead of letting it through", () => {
    expect(blockedHostReason("1:2:3:4:5:6:7:8:9")).toMatch(/not a valid IPv6/);
    expect(blockedHostReason("::1::2")).toMatch(/not a valid IPv6/);
  });
});

describe("retryAfterSeconds", () => {
  it("reads delay-seconds and HTTP dates", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(retryAfterSeconds(new Headers({ "retry-after": "120" }), now)).toBe(120);
    expect(retryAfterSeconds(new Headers({ "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }), now)).toBe(30);
    expect(retryAfterSeconds(new Headers({ "retry-after": "Tue, 31 Dec 2024 00:00:00 GMT" }), now)).toBe(0);
    expect(retryAfterSeconds(new Headers({ "retry-after": "soon" }), now)).toBeUndefined();
    expect(retryAfterSeconds(new Headers(), now)).toBeUndefined();
  });
});

describe("destinationOf", () => {
  it("has one connector per destination type, with batch limits and default rate limits", () => {
    for (const type of DESTINATION_TYPES) {
      const { type: registered, connector } = destinationOf(type);
      expect(registered).toBe(type);
      expect(connector.defaultRateLimit.requestsPerSecond).toBeGreaterThan(0);
      expect(connector.defaultRateLimit.concurrency).toBeGreaterThan(0);
    }
    expect(
      destinationOf("salesforce").connector.maxBatchSize({
        instance_url: "https://x.my.salesforce.com",
        object: "Contact",
        external_id_field: "E__c",
        api_version: "v60.0",
        batch_size: 200,
      }),
    ).toBe(200);
    expect(destinationOf("hubspot").connector.maxBatchSize({ object_type: "contacts", id_property: "email", batch_size: 100 })).toBe(100);
    expect(destinationOf("webhook").connector.maxBatchSize({ url: "https://x.example", batch_size: 25, timeout_ms: 1000 })).toBe(25);
    expect(destinationOf("postgres").connector.maxBatchSize({ schema: "public", table: "t", key_column: "id", batch_size: 750 })).toBe(750);
  });
});
