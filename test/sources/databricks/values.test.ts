import { afterEach, describe, expect, it, vi } from "vitest";
import { clientCredentialsToken, TokenRequestError } from "../../../src/lib/client-credentials";
import { JsonArrayRows } from "../../../src/sources/databricks/json-array";
import { guardedLinkUrl, waitTimeout } from "../../../src/sources/databricks/statement";
import { canonicalText, databricksTypeId } from "../../../src/sources/databricks/types";
import { canonicalJson } from "../../../src/sources/canonical-json";
import { openSource } from "../../../src/sources/registry";

/** The pure parts: canonical values, the link guard, the wait_timeout choice and the token cache. */

const id = (typeName: string, typeText?: string) => databricksTypeId(typeName, typeText);

describe("Databricks canonical values", () => {
  it("reads type_name (the API's enum) and SQL spellings alike", () => {
    expect(id("LONG")).toBe(id("BIGINT"));
    expect(id("SHORT")).toBe(id("INT"));
    expect(id("", "DECIMAL(10,2)")).toBe(id("DECIMAL"));
    expect(id("", "array<int>")).toBe(id("ARRAY"));
    expect(id("INTERVAL")).toBe(id("STRING"));
  });

  it("gives one text per value, whatever the rendering", () => {
    const same = (type: string, ...renderings: string[]) => {
      const texts = renderings.map((r) => canonicalText(id(type), r));
      expect(new Set(texts).size, `${type}: ${JSON.stringify(texts)}`).toBe(1);
      return texts[0];
    };
    expect(same("DOUBLE", "1.5E300", "1.5e+300", "15E299")).toBe("1.5e+300");
    expect(same("DOUBLE", "1.0", "1", "1.00")).toBe("1");
    expect(same("DOUBLE", "Infinity", "inf", "+Infinity")).toBe("Infinity");
    expect(same("DOUBLE", "NaN", "nan")).toBe("NaN");
    // The shortcut for plain decimals gives what the Number round trip gives.
    for (const n of [
      0,
      -0,
      0.1,
      -2.5,
      123456789012345,
      1234567890123456,
      0.000001,
      0.0000001,
      1e21,
      1e20,
      0.30000000000000004,
      1 / 3,
      5e-324,
    ]) {
      const fixed = n.toFixed(Math.min(20, Math.max(0, -Math.floor(Math.log10(Math.abs(n) || 1)) + 16)));
      expect(canonicalText(id("DOUBLE"), String(n)), String(n)).toBe(String(n));
      expect(canonicalText(id("DOUBLE"), fixed), fixed).toBe(String(Number(fixed)));
    }
    expect(same("LONG", "007", "7", "+7")).toBe("7");
    expect(same("LONG", "9223372036854775807")).toBe("9223372036854775807");
    expect(same("BOOLEAN", "true", "TRUE", "1")).toBe("true");
    expect(
      same("TIMESTAMP", "2024-01-02T03:04:05.000Z", "2024-01-02 03:04:05", "2024-01-02T05:04:05+02:00", "2024-01-01T22:04:05-0500"),
    ).toBe("2024-01-02T03:04:05Z");
    expect(same("TIMESTAMP", "2024-01-02T03:04:05.123400Z", "2024-01-02T03:04:05.1234Z")).toBe("2024-01-02T03:04:05.1234Z");
    expect(same("TIMESTAMP", "2024-03-01T00:30:00+01:00")).toBe("2024-02-29T23:30:00Z");
    expect(same("TIMESTAMP_NTZ", "2024-12-31T23:59:59.000", "2024-12-31 23:59:59")).toBe("2024-12-31T23:59:59");
    expect(same("STRUCT", '{"b":1,"a":{"d":[1,{"z":0,"y":1}],"c":null}}', '{ "a" : { "c":null, "d":[1,{"y":1,"z":0}] }, "b":1 }')).toBe(
      '{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}',
    );
    expect(same("MAP", '{"k\\u0041":"x"}', '{"kA":"x"}')).toBe('{"kA":"x"}');
    expect(same("ARRAY", "[12345678901234567890.12345, 1e400]")).toBe("[12345678901234567890.12345,1e400]");
  });

  it("keeps NULL apart from '', and decimals, dates and strings as sent", () => {
    for (const type of ["STRING", "DECIMAL", "DATE", "BINARY", "ARRAY"]) {
      expect(canonicalText(id(type), null)).toBeNull();
      expect(canonicalText(id(type), "")).toBe("");
    }
    expect(canonicalText(id("DECIMAL"), "-0.0010")).toBe("-0.0010");
    expect(canonicalText(id("STRING"), " 007 ")).toBe(" 007 ");
    expect(canonicalText(id("TIMESTAMP"), "not a time")).toBe("not a time");
  });

  it("leaves text that is not JSON alone", () => {
    expect(canonicalJson("[1,2")).toBeUndefined();
    expect(canonicalJson('{"a":1} x')).toBeUndefined();
    expect(canonicalJson("{'a':1}")).toBeUndefined();
    expect(canonicalText(id("STRUCT"), "{oops")).toBe("{oops");
  });
});

describe("Databricks statements", () => {
  it("asks wait_timeout 0s or 5 to 10 s, as the API takes it, and 2 s short of the statement timeout", () => {
    expect(waitTimeout(1500)).toBe("0s");
    expect(waitTimeout(6999)).toBe("0s");
    expect(waitTimeout(7000)).toBe("5s");
    expect(waitTimeout(9500)).toBe("7s");
    expect(waitTimeout(300_000)).toBe("10s");
  });

  it("puts every presigned link's host through the SSRF guard", () => {
    const s3 = "https://dbstorage.s3.us-west-2.amazonaws.com/results/0?X-Amz-Signature=x";
    expect(guardedLinkUrl(s3, false)).toBe(s3);
    for (const url of ["http://169.254.169.254/latest/meta-data", "http://127.0.0.1:9000/x", "http://10.0.0.5/x", "file:///etc/passwd"]) {
      expect(() => guardedLinkUrl(url, false), url).toThrow(expect.objectContaining({ code: "host_not_allowed" }));
    }
    expect(guardedLinkUrl("http://127.0.0.1:9000/x", true)).toBe("http://127.0.0.1:9000/x");
  });

  it("puts the workspace host through the SSRF guard before any request", async () => {
    const settings = { host: "http://169.254.169.254/t/x", warehouse_id: "wh", token: "dapi-x" };
    const tested = await openSource("databricks", JSON.stringify(settings), { statementTimeoutMs: 1000, allowPrivate: false }).test();
    expect([tested.ok, tested.error?.code]).toEqual([false, "host_not_allowed"]);
  });
});

describe("OAuth client-credentials token cache", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("asks once per token lifetime, shares a request in flight, and asks again near expiry", async () => {
    let grants = 0;
    vi.stubGlobal("fetch", async (_url: string, init: RequestInit) => {
      grants++;
      expect(String(init.body)).toBe("grant_type=client_credentials&scope=all-apis");
      expect(new Headers(init.headers).get("authorization")).toBe(`Basic ${btoa("sp:secret")}`);
      return Response.json({ access_token: `t${grants}`, token_type: "Bearer", expires_in: 3600 });
    });
    let now = 1_000_000;
    const creds = {
      tokenUrl: `https://ws-${crypto.randomUUID()}.example/oidc/v1/token`,
      clientId: "sp",
      clientSecret: "secret",
      scope: "all-apis",
      timeoutMs: 1000,
    };
    const [a, b] = await Promise.all([clientCredentialsToken(creds, () => now), clientCredentialsToken(creds, () => now)]);
    expect([a, b, grants]).toEqual(["t1", "t1", 1]);
    now += 3000 * 1000;
    expect(await clientCredentialsToken(creds, () => now)).toBe("t1");
    // Within two minutes of expiry the token is not handed out any more.
    now += 500 * 1000;
    expect(await clientCredentialsToken(creds, () => now)).toBe("t2");
  });

  it("reports a refusal with its status and does not cache it", async () => {
    let calls = 0;
    vi.stubGlobal("fetch", async () => {
      calls++;
      return Response.json({ error: "invalid_client", error_description: "Client authentication failed" }, { status: 401 });
    });
    const creds = {
      tokenUrl: `https://ws-${crypto.randomUUID()}.example/oidc/v1/token`,
      clientId: "sp",
      clientSecret: "bad",
      timeoutMs: 1000,
    };
    const err = await clientCredentialsToken(creds).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenRequestError);
    expect(err).toMatchObject({ status: 401, message: expect.stringMatching(/invalid_client: Client authentication failed/) });
    await clientCredentialsToken(creds).catch(() => undefined);
    expect(calls).toBe(2);
  });
});

describe("JSON_ARRAY chunks read as they stream", () => {
  const rows = [
    ["1", 'a\\"b]'],
    [null, "[x, y]"],
    ["é€𝄞", ""],
    ["\t\n", null],
  ];
  const text = ` [ ${rows.map((r) => JSON.stringify(r)).join(" ,\n")} ] `;

  it("gives the same rows however the text is cut", () => {
    for (let cut = 0; cut <= text.length; cut++) {
      const splitter = new JsonArrayRows();
      const out = [...splitter.push(text.slice(0, cut)), ...splitter.push(text.slice(cut))];
      splitter.end();
      expect(out, `cut at ${cut}`).toEqual(rows);
    }
    const oneByOne = new JsonArrayRows();
    expect([...text].flatMap((c) => oneByOne.push(c))).toEqual(rows);
  });

  it("refuses what is not an array of rows, or ends early", () => {
    expect(() => new JsonArrayRows().push('{"a":1}')).toThrow(SyntaxError);
    expect(() => new JsonArrayRows().push('["a"]')).toThrow(SyntaxError);
    expect(() => new JsonArrayRows().push("[[]] [")).toThrow(SyntaxError);
    const early = new JsonArrayRows();
    expect(early.push('[["a"],["b"')).toEqual([["a"]]);
    expect(() => early.end()).toThrow(SyntaxError);
    const empty = new JsonArrayRows();
    expect(empty.push("[]")).toEqual([]);
    expect(() => empty.end()).not.toThrow();
  });
});
