// Deterministic, realistic-looking demo customers (the same rows on every machine).

/** The demo warehouse's one table. */
export const CUSTOMERS_DDL = `
CREATE TABLE customers (
  id              bigint PRIMARY KEY,
  email           text NOT NULL UNIQUE,
  first_name      text NOT NULL,
  last_name       text NOT NULL,
  company         text,
  plan            text NOT NULL CHECK (plan IN ('free', 'starter', 'pro', 'enterprise')),
  status          text NOT NULL CHECK (status IN ('active', 'trialing', 'churned')),
  country         char(2) NOT NULL,
  lifetime_value  numeric(12, 2) NOT NULL DEFAULT 0,
  orders_count    integer NOT NULL DEFAULT 0,
  signed_up_at    timestamptz NOT NULL,
  last_seen_at    timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_updated_at ON customers (updated_at);
`;

const FIRST = [
  "Emma",
  "Liam",
  "Olivia",
  "Noah",
  "Ava",
  "Lucas",
  "Mia",
  "Elias",
  "Sofia",
  "Leon",
  "Amelia",
  "Mateo",
  "Hannah",
  "Jonas",
  "Chloe",
  "Felix",
  "Zoe",
  "Oscar",
  "Lea",
  "Hugo",
  "Nora",
  "Arthur",
  "Ines",
  "Theo",
  "Yuki",
  "Ravi",
  "Aisha",
  "Kwame",
  "Lina",
  "Diego",
  "Freya",
  "Omar",
  "Ingrid",
  "Mei",
  "Tomás",
  "Priya",
  "Lars",
  "Camille",
];
const LAST = [
  "Müller",
  "Smith",
  "García",
  "Rossi",
  "Dubois",
  "Kowalski",
  "Jensen",
  "Silva",
  "Novak",
  "Schmidt",
  "Johnson",
  "Martin",
  "Bernard",
  "Costa",
  "Fischer",
  "Lindqvist",
  "O'Brien",
  "Tanaka",
  "Patel",
  "Nguyen",
  "Kim",
  "Hansen",
  "Weber",
  "Moreau",
  "Romano",
  "Santos",
  "Meyer",
  "Brown",
  "Lopez",
  "Wagner",
  "Okafor",
  "Ivanova",
];
const COMPANIES = [
  "Acme",
  "Globex",
  "Initech",
  "Umbrella",
  "Hooli",
  "Stark Industries",
  "Wayne Enterprises",
  "Tyrell",
  "Soylent",
  "Cyberdyne",
  "Vandelay",
  "Wonka",
  "Gringotts",
  "Aperture",
  "Monarch",
  "Pied Piper",
  null,
  null,
  null,
];
const COUNTRIES = ["US", "US", "US", "DE", "DE", "GB", "FR", "NL", "SE", "ES", "IT", "PL", "BR", "IN", "JP", "CA", "AU"];
const PLANS = [
  ["free", 45],
  ["starter", 30],
  ["pro", 20],
  ["enterprise", 5],
];
const STATUSES = [
  ["active", 80],
  ["trialing", 8],
  ["churned", 12],
];

/** mulberry32: a small seeded PRNG, so every machine gets the same demo data. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (rand, list) => list[Math.floor(rand() * list.length)];
const weighted = (rand, list) => {
  let r = rand() * list.reduce((s, [, w]) => s + w, 0);
  for (const [value, w] of list) {
    r -= w;
    if (r < 0) return value;
  }
  return list[0][0];
};
const slug = (s) =>
  s
    .normalize("NFD")
    .replace(/[^A-Za-z]/g, "")
    .toLowerCase();

/**
 * Customers with ids `from`…`from + count - 1`; the same id always gives the same person.
 * @returns {Array<Record<string, string | number | null>>}
 */
export function customerRows(from, count, now) {
  const rows = [];
  for (let id = from; id < from + count; id++) {
    const rand = prng(id * 7919);
    const first = pick(rand, FIRST);
    const last = pick(rand, LAST);
    const plan = weighted(rand, PLANS);
    const signedUp = new Date(now.getTime() - Math.floor(rand() * 3 * 365 * 86_400_000));
    const orders = plan === "free" ? Math.floor(rand() * 3) : 1 + Math.floor(rand() * 60);
    const perOrder = { free: 0, starter: 29, pro: 99, enterprise: 899 }[plan];
    rows.push({
      id,
      email: `${slug(first)}.${slug(last)}.${id}@example.com`,
      first_name: first,
      last_name: last,
      company: pick(rand, COMPANIES),
      plan,
      status: weighted(rand, STATUSES),
      country: pick(rand, COUNTRIES),
      lifetime_value: (orders * perOrder * (0.8 + rand() * 0.4)).toFixed(2),
      orders_count: orders,
      signed_up_at: signedUp.toISOString(),
      last_seen_at: new Date(signedUp.getTime() + rand() * (now.getTime() - signedUp.getTime())).toISOString(),
      updated_at: now.toISOString(),
    });
  }
  return rows;
}

const literal = (v) => (v === null ? "NULL" : typeof v === "number" ? String(v) : `'${String(v).replaceAll("'", "''")}'`);

/** One multi-row INSERT of `rows`. */
export function insertSql(rows) {
  const columns = Object.keys(rows[0]);
  const values = rows.map((r) => `(${columns.map((c) => literal(r[c])).join(", ")})`);
  return `INSERT INTO customers (${columns.join(", ")}) VALUES\n${values.join(",\n")}`;
}
