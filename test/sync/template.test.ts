import { describe, expect, it } from "vitest";
import { compileTemplate, limitsForRows, MAX_TEMPLATE_LENGTH, TemplateError } from "../../src/sync/template";

describe("templates (safe Liquid)", () => {
  it("renders a row's values through filters and names the columns it reads", () => {
    const t = compileTemplate("{{ first_name }} {{ last_name | upcase }}{% if vip %} (VIP){% endif %}");
    expect(t.variables).toEqual(["first_name", "last_name", "vip"]);
    expect(t.render({ first_name: "Ada", last_name: "Lovelace", vip: true })).toBe("Ada LOVELACE (VIP)");
    expect(t.render({ first_name: "Alan", last_name: "Turing", vip: false })).toBe("Alan TURING");
  });

  it("reads nested values by their top-level column; missing values render empty", () => {
    const t = compileTemplate("{{ address.city | default: 'unknown' }}/{{ nickname }}");
    expect(t.variables).toEqual(["address", "nickname"]);
    expect(t.render({ address: { city: "Berlin" } })).toBe("Berlin/");
    expect(t.render({ address: null })).toBe("unknown/");
  });

  it("refuses syntax errors and unknown filters when compiled, with liquid's message", () => {
    expect(() => compileTemplate("{{ name ")).toThrow(TemplateError);
    expect(() => compileTemplate("{{ name | shout }}")).toThrow(/undefined filter: shout/);
    expect(() => compileTemplate("{% if x %}open")).toThrow(/not closed/);
  });

  it("has no file system: include, render and layout are refused", () => {
    for (const tag of ["{% include 'secrets' %}", "{% render 'x' %}", "{% layout 'base' %}"]) {
      expect(() => compileTemplate(tag), tag).toThrow(/is not allowed in a template/);
    }
  });

  it("reads own properties only: nothing of the prototype chain", () => {
    const t = compileTemplate("[{{ row.constructor }}][{{ row.__proto__ }}][{{ name.size }}]");
    expect(t.render({ row: { a: 1 }, name: "abc" })).toBe("[][][3]");
  });

  it("limits size, render time and memory: a runaway template fails, it does not stall", () => {
    expect(() => compileTemplate("x".repeat(MAX_TEMPLATE_LENGTH + 1))).toThrow(/at most 10000 characters/);
    const loop = compileTemplate("{% for i in (1..100000000) %}{{ i }}{% endfor %}");
    const started = Date.now();
    expect(() => loop.render({})).toThrow(TemplateError);
    expect(Date.now() - started).toBeLessThan(5_000);
    const big = compileTemplate(
      "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..20) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
    );
    expect(() => big.render({})).toThrow(TemplateError);
  });

  it("raises the limits for a render over many rows (a batch body), up to a ceiling", () => {
    const grow = compileTemplate(
      "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..17) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
    );
    expect(() => grow.render({})).toThrow(/memory/);
    expect(grow.render({}, limitsForRows(8, { ms: 1_000, bytes: 16_000_000 }))).toBe(String(10 * 2 ** 17));
    expect(limitsForRows(1000, { ms: 1_000, bytes: 16_000_000 })).toEqual({ ms: 1_000, bytes: 16_000_000 });
    expect(limitsForRows(2, { ms: 1_000, bytes: 16_000_000 })).toEqual({ ms: 100, bytes: 2_000_000 });
  });
});
