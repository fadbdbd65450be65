/**
 * Server-side request forgery guard for destination URLs.
 *
 * Only literal hosts can be judged here: workerd has no DNS API, so a public name that resolves to
 * a private address cannot be caught before the request. Deployed, that case is covered by
 * Cloudflare itself: `fetch()` from a Worker never reaches private, loopback or link-local
 * addresses (the edge refuses hostnames that resolve to them). Locally (`wrangler dev`, tests) the
 * runtime would connect, which is why ALLOW_PRIVATE_DESTINATIONS exists and defaults to off.
 */

/** Whether an outbound URL may be requested, and why not. */
export type UrlVerdict = { ok: true } | { ok: false; reason: string };

/** Options of {@link checkOutboundUrl}. */
export interface OutboundUrlOptions {
  /** Private, loopback and link-local hosts allowed (ALLOW_PRIVATE_DESTINATIONS, local dev and tests). */
  allowPrivate: boolean;
}

/**
 * Checks a destination URL before any request: only `http:`/`https:`, and unless `allowPrivate`,
 * no private, loopback, link-local (cloud metadata), unique-local, CGNAT, multicast or reserved
 * address in any spelling (decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, IPv4-mapped
 * IPv6 `[::ffff:127.0.0.1]`), and no local-only name (`localhost`, `*.localhost`, `*.local`,
 * `*.internal` such as `metadata.google.internal`, single-label names). Pure; never throws.
 */
export function checkOutboundUrl(url: string | URL, opts: OutboundUrlOptions): UrlVerdict {
  let parsed: URL;
  try {
    parsed = typeof url === "string" ? new URL(url) : url;
  } catch {
    return { ok: false, reason: "not a valid URL" };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return { ok: false, reason: `only http and https URLs are allowed, not ${parsed.protocol.replace(/:$/, "")}` };
  }
  if (opts.allowPrivate) return { ok: true };
  const reason = blockedHostReason(parsed.hostname);
  return reason === undefined ? { ok: true } : { ok: false, reason };
}

/**
 * Why a hostname (as in `URL.hostname`, or a bare host such as a Postgres connection's) must not
 * be contacted, or `undefined` when it may be. Covers the same cases as {@link checkOutboundUrl}.
 */
export function blockedHostReason(hostname: string): string | undefined {
  const host = hostname
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.+$/, "");
  if (host === "") return "the URL has no host";

  if (host.includes(":")) {
    const groups = parseIPv6(host);
    if (!groups) return `${hostname} is not a valid IPv6 address`;
    const why = ipv6Reason(groups);
    return why === undefined ? undefined : `${hostname} is ${why}`;
  }

  const v4 = parseIPv4(host);
  if (v4 !== undefined) {
    const why = ipv4Reason(v4);
    return why === undefined ? undefined : `${hostname} is ${why}`;
  }

  if (host === "localhost" || host.endsWith(".localhost")) return `${hostname} is a loopback name`;
  if (host === "metadata.google.internal" || host === "metadata") return `${hostname} is a cloud metadata service`;
  // Reserved for private networks (RFC 6762 mDNS, ICANN .internal); never resolvable publicly.
  if (host.endsWith(".local") || host.endsWith(".internal") || host.endsWith(".home.arpa")) {
    return `${hostname} is a local-network name`;
  }
  if (!host.includes(".")) return `${hostname} is a single-label name, which only resolves on a local network`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// IPv4

/**
 * An IPv4 address as a 32-bit number in any form `inet_aton` accepts (and the WHATWG URL parser
 * normalises): 1 to 4 dot-separated parts, each decimal, octal (leading 0) or hex (0x), the last
 * filling the remaining bytes. `undefined` when `host` is not such an address (i.e. a name).
 */
function parseIPv4(host: string): number | undefined {
  const parts = host.split(".");
  if (parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/.test(part)) n = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]+$/.test(part)) n = parseInt(part.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(part)) n = Number(part);
    else return undefined;
    if (!Number.isFinite(n)) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop();
  if (last === undefined) return undefined;
  let value = 0;
  for (const [i, n] of numbers.entries()) {
    if (n > 255) return undefined;
    value += n * 256 ** (3 - i);
  }
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  return value + last;
}

/** Blocked IPv4 ranges: [first address, prefix length, what it is]. */
const IPV4_BLOCKED: readonly (readonly [string, number, string])[] = [
  ["0.0.0.0", 8, "a 'this network' address (0.0.0.0/8)"],
  ["10.0.0.0", 8, "a private address (10.0.0.0/8)"],
  ["100.64.0.0", 10, "a carrier-grade NAT address (100.64.0.0/10)"],
  ["127.0.0.0", 8, "a loopback address (127.0.0.0/8)"],
  ["169.254.0.0", 16, "a link-local address (169.254.0.0/16, incl. cloud metadata 169.254.169.254)"],
  ["172.16.0.0", 12, "a private address (172.16.0.0/12)"],
  ["192.0.0.0", 24, "an IETF protocol assignment address (192.0.0.0/24)"],
  ["192.168.0.0", 16, "a private address (192.168.0.0/16)"],
  ["198.18.0.0", 15, "a benchmarking address (198.18.0.0/15)"],
  ["224.0.0.0", 4, "a multicast address (224.0.0.0/4)"],
  ["240.0.0.0", 4, "a reserved address (240.0.0.0/4, incl. broadcast)"],
];

const IPV4_RANGES = IPV4_BLOCKED.map(([base, bits, what]) => ({
  base: parseIPv4(base) ?? 0,
  size: 2 ** (32 - bits),
  what,
}));

function ipv4Reason(address: number): string | undefined {
  return IPV4_RANGES.find((r) => address >= r.base && address < r.base + r.size)?.what;
}

// ---------------------------------------------------------------------------------------------
// IPv6

/** Eight 16-bit groups of an IPv6 address (a dotted IPv4 tail allowed), or `undefined`. */
function parseIPv6(text: string): number[] | undefined {
  const host = text.replace(/%.*$/, ""); // zone id (fe80::1%eth0) does not change the address
  const halves = host.split("::");
  if (halves.length > 2) return undefined;
  const parseHalf = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const pieces = half.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(piece)) return undefined;
        const v4 = parseIPv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-f]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = parseHalf(halves[0] ?? "");
  const tail = parseHalf(halves[1] ?? "");
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const zeros = 8 - head.length - tail.length;
  if (zeros < 1) return undefined;
  return [...head, ...new Array<number>(zeros).fill(0), ...tail];
}

function ipv6Reason(g: number[]): string | undefined {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = g6 * 65536 + g7;
  const firstSixZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (firstSixZero && g5 === 0 && g6 === 0 && g7 === 0) return "the unspecified address (::)";
  if (firstSixZero && g5 === 0 && g6 === 0 && g7 === 1) return "a loopback address (::1)";
  // These forms carry an IPv4 address and reach it: judge them by that address.
  if (firstSixZero && (g5 === 0xffff || g5 === 0)) {
    const why = ipv4Reason(embedded);
    return why && `an IPv4-mapped form of ${why}`;
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    const why = ipv4Reason(embedded);
    return why && `a NAT64 form of ${why}`;
  }
  if (g0 === 0x2002) {
    const why = ipv4Reason(g1 * 65536 + g2);
    return why && `a 6to4 form of ${why}`;
  }
  if ((g0 & 0xffc0) === 0xfe80) return "a link-local address (fe80::/10)";
  if ((g0 & 0xffc0) === 0xfec0) return "a site-local address (fec0::/10)";
  if ((g0 & 0xfe00) === 0xfc00) return "a unique-local address (fc00::/7)";
  if ((g0 & 0xff00) === 0xff00) return "a multicast address (ff00::/8)";
  return undefined;
}
