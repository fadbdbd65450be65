import { describe, expect, it } from "vitest";
import { checkFieldMappings, type FieldMapping, fieldMaker, mappingColumns, mappingSeedParts } from "../../src/sync/mapping";

const mappings: FieldMapping[] = [
  { source: "email", destination: "Email" },
  { static: "Warehouse", destination: "LeadSource" },
  { template: "{{ first_name }} {{ last_name | upcase }}", destination: "Name" },
  { source: "email", destination: "Login" },
  { static: { tier: 2, tags: ["a"] }, destination: "Meta" },
];

describe("field mappings", () => {
  it("reads each mapped column as often as it is mapped, then the columns only templates read", () => {
    expect(mappingColumns(mappings)).toEqual(["email", "email", "first_name", "last_name"]);
  });

  it("column mappings seed row hashes by their destination alone, as before constants and templates existed", () => {
    const columnsOnly: FieldMapping[] = [
      { source: "email", destination: "Email" },
      { source: "plan", destination: "Plan" },
    ];
    expect(mappingSeedParts(columnsOnly)).toEqual(["Email", "Plan"]);
    // A constant's or template's definition is part of the seed: editing one changes every row's hash.
    const edited = mappings.map((m) => ("static" in m && m.destination === "LeadSource" ? { ...m, static: "CRM" } : m));
    expect(mappingSeedParts(edited)).not.toEqual(mappingSeedParts(mappings));
    expect(new Set(mappingSeedParts(mappings)).size).toBe(mappings.length);
  });

  it("makes a row's fields from columns, constants and templates; null_values skip leaves nulls out", () => {
    const make = fieldMaker(mappings);
    expect(make(["ada@example.com", "ada@example.com", "Ada", "Lovelace"])).toEqual({
      Email: "ada@example.com",
      LeadSource: "Warehouse",
      Name: "Ada LOVELACE",
      Login: "ada@example.com",
      Meta: { tier: 2, tags: ["a"] },
    });
    const skip = fieldMaker(
      [
        { source: "email", destination: "Email" },
        { source: "phone", destination: "Phone" },
      ],
      "skip",
    );
    expect(skip(["a@b.c", null])).toEqual({ Email: "a@b.c" });
    expect(fieldMaker([{ source: "phone", destination: "Phone" }])([null])).toEqual({ Phone: null });
  });

  it("refuses unknown columns, templates that do not compile or read unknown columns, and duplicate fields", () => {
    const problems = checkFieldMappings(
      [
        { source: "emial", destination: "Email" },
        { template: "{{ first_name }} {{ nick }}", destination: "Name" },
        { template: "{% if x %}", destination: "Broken" },
        { static: 1, destination: "Email" },
      ],
      ["email", "first_name"],
    );
    expect(problems.map((p) => p.path)).toEqual([
      "field_mappings.0.source",
      "field_mappings.1.template",
      "field_mappings.2.template",
      "field_mappings.3.destination",
    ]);
    expect(problems[1]?.message).toContain('"nick"');
    expect(problems[2]?.message).toMatch(/^invalid template: /);
    expect(checkFieldMappings(mappings, ["email", "first_name", "last_name"])).toEqual([]);
  });
});
