// What the bad-input property draws from: fast-check generators of hostile strings, numbers, JSON
// text (deep, duplicate keys, `__proto__`), collaborator and activity items mutated from valid ones,
// headers, content types, paths, query strings and methods.
import fc from "fast-check";

/** Emails of the collaborators the test creates, so generated activities can reference them. */
export const knownEmails = ["ana@example.com", "Bo@Example.com", "  carla@example.com "];

const nastyStrings = fc.constantFrom(
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfffy",
  "\ufeff",
  "\u202e",
  "é",
  "中文",
  "🚀🚀",
  "👩‍👩‍👧‍👦",
  "001",
  "000",
  "1000",
  "01",
  "0x1",
  "NaN",
  "null",
  "true",
  "[]",
  "{}",
  "'; drop table salesos.activities; --",
  "%s%n%x",
  "${jndi:ldap://x}",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "sk_live_",
  "Bearer",
  "a@b",
  "a@b.co",
  "@example.com",
  "ana@example.com",
  "2026-03-17T09:15:00-03:00",
  "2026-02-30T00:00:00Z",
  "9999-12-31T23:59:59Z",
  "0000-01-01T00:00:00Z",
  "2026-03-17",
);
export const hostileString = fc.oneof(
  { weight: 4, arbitrary: nastyStrings },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
      maxLength: 4,
    }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 70_000 }).map((n) => "x".repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 5_000 }).map((n) => "é🚀".repeat(n)) },
);
const rawNumber = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
  fc.constantFrom("1e400", "-1e400", "-0", "1E-400", "123456789012345678901234567890", "0.1e1", "1", "0"),
);
const keyNames = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      "action",
      "collaborators",
      "activities",
      "external_id",
      "name",
      "email",
      "phone",
      "document",
      "team",
      "role",
      "metadata",
      "activity_code",
      "collaborator_email",
      "data",
      "occurred_at",
      "tenant_id",
      "scopes",
      "rate_limit_per_hour",
      "ip_allowlist",
      "expires_at",
      "environment",
      "grace_period_seconds",
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "__proto__",
      "constructor",
      "prototype",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "__defineGetter__",
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
);

/** JSON text, written pair by pair so objects can carry duplicate keys and `__proto__` as written. */
const jsonText = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    hostileString.map((s) => JSON.stringify(s)),
    rawNumber,
    fc.constantFrom("true", "false", "null"),
    tie("array"),
    tie("object"),
  ),
  array: fc.array(tie("value"), { maxLength: 4 }).map((xs) => `[${xs.join(",")}]`),
  object: fc.array(fc.tuple(keyNames, tie("value")), { maxLength: 5 })
    .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
})).value as fc.Arbitrary<string>;

/** Deep nesting of arrays, objects or both, as text (JSON.parse is iterative; our checks must be too). */
const deepText = fc.record({
  depth: fc.oneof(
    fc.integer({ min: 60, max: 70 }),
    fc.integer({ min: 100, max: 5_000 }),
    fc.integer({ min: 100_000, max: 600_000 }),
  ),
  kind: fc.constantFrom("array", "object", "mixed"),
}).map(({ depth, kind }) => {
  if (kind === "array") return "[".repeat(depth) + "1" + "]".repeat(depth);
  if (kind === "object") return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  return '{"a":['.repeat(depth) + "1" + "]}".repeat(depth);
});

export const anyText = fc.oneof({ weight: 6, arbitrary: jsonText }, { weight: 1, arbitrary: deepText });

type Pairs = [string, string][];
const objectText = (pairs: Pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;

/**
 * A valid object (as pairs of JSON text), then mutated: some fields dropped, some given hostile
 * values, extra pairs appended (which may repeat a key: the last one wins in JSON.parse).
 */
export function mutated(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<string> {
  return fc.record({
    valid,
    drop: fc.array(keyNames, { maxLength: 2 }),
    replace: fc.array(fc.tuple(keyNames, anyText), { maxLength: 3 }),
    clean: fc.boolean(),
  }).map(({ valid, drop, replace, clean }) => {
    const pairs: Pairs = Object.entries(valid).map(([k, v]) => [k, JSON.stringify(v)]);
    if (clean) return objectText(pairs);
    return objectText([...pairs.filter(([k]) => !drop.includes(k)), ...replace]);
  });
}

const email = fc.oneof(fc.constantFrom(...knownEmails), fc.emailAddress(), hostileString);
const collaborator = mutated(fc.record({
  external_id: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), hostileString),
  name: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), hostileString),
  email,
  phone: fc.option(fc.string({ maxLength: 60 })),
  metadata: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 })),
}, { requiredKeys: ["external_id", "name", "email"] }));
const activity = mutated(fc.record({
  activity_code: fc.oneof(fc.integer({ min: 1, max: 999 }).map((n) => String(n).padStart(3, "0")), hostileString),
  external_id: fc.oneof(fc.uuid(), hostileString),
  collaborator_email: email,
  data: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 })),
  occurred_at: fc.option(
    fc.oneof(
      fc.date({ min: new Date("2000-01-01"), max: new Date("2027-12-31"), noInvalidDate: true }).map((d) =>
        d.toISOString()
      ),
      hostileString,
    ),
  ),
}, { requiredKeys: ["activity_code", "external_id", "collaborator_email"] }));

const smallItem =
  '{"external_id":"e","name":"n","email":"ana@example.com","activity_code":"001","collaborator_email":"ana@example.com"}';
const actionText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('"sync_collaborators"', '"sync_activities"') },
  { weight: 1, arbitrary: anyText },
);
const items = (item: fc.Arbitrary<string>) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.array(fc.oneof({ weight: 5, arbitrary: item }, { weight: 1, arbitrary: anyText }), { maxLength: 8 })
        .map((xs) => `[${xs.join(",")}]`),
    },
    { weight: 1, arbitrary: anyText },
    { weight: 1, arbitrary: fc.constantFrom(501, 1001).map((n) => `[${Array(n).fill(smallItem).join(",")}]`) },
  );

/** A body for default-integration, as text. */
export const integrationBody = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(actionText, items(collaborator), fc.array(fc.tuple(keyNames, anyText), { maxLength: 2 }))
      .map(([a, xs, extra]) => objectText([["action", a], ["collaborators", xs], ...extra])),
  },
  {
    weight: 5,
    arbitrary: fc.tuple(actionText, items(activity), fc.array(fc.tuple(keyNames, anyText), { maxLength: 2 }))
      .map(([a, xs, extra]) => objectText([["action", a], ["activities", xs], ...extra])),
  },
  { weight: 2, arbitrary: anyText },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 50 }) }, // mostly not JSON
  { weight: 1, arbitrary: jsonText.chain((t) => fc.nat({ max: Math.max(t.length - 1, 0) }).map((n) => t.slice(0, n))) }, // cut short
);

/** Bytes: mostly the text, sometimes invalid UTF-8 or a body near / over 5 MiB. */
export const bodyBytes = (text: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 60, arbitrary: text.map((t) => new TextEncoder().encode(t)) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) =>
        new Uint8Array([...new TextEncoder().encode('{"action":"'), ...b, 0xff, 0xfe])
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(5 * 1024 * 1024 - 64, 5 * 1024 * 1024 + 1, 6 * 1024 * 1024).map((n) => {
        const prefix = '{"action":"sync_activities","activities":[],"pad":"';
        return new TextEncoder().encode(prefix + "x".repeat(Math.max(n - prefix.length - 2, 0)) + '"}');
      }),
    },
  );

export const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 10 }),
  nastyStrings.filter((s) => /^[\x20-\x7e]*$/.test(s)),
);
export const headerName = fc.oneof(
  fc.constantFrom(
    "x-forwarded-for",
    "x-tenant-id",
    "accept",
    "accept-encoding",
    "content-encoding",
    "origin",
    "cookie",
    "x-real-ip",
    "forwarded",
    "x-request-id",
    "prefer",
    "expect",
  ),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
);
export const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant("application/json") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      " application/json ;x=y",
      "application/json;charset=latin1",
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      null,
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "application/problem+json",
      "json",
      "",
    ),
  },
  { weight: 1, arbitrary: headerValue },
);
export const queryString = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  {
    weight: 2,
    arbitrary: fc.array(
      fc.tuple(
        fc.oneof(
          keyNames,
          fc.constantFrom(
            "limit",
            "cursor",
            "status",
            "environment",
            "from",
            "to",
            "bucket",
            "key_id",
            "action",
            "tenant_id",
          ),
        ),
        fc.oneof(hostileString, rawNumber),
      ),
      { maxLength: 4 },
    )
      .map((pairs) =>
        "?" +
        pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v.replace(/[\ud800-\udfff]/g, "?"))}`)
          .join("&")
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "?",
      "?&&",
      "?a",
      "?limit=1&limit=2",
      "?%zz",
      "?limit=%00",
      "?cursor=====",
      "?from=2026-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
      "?bucket=day&from=1900-01-01T00:00:00Z",
    ),
  },
);
export const method = fc.oneof(
  { weight: 12, arbitrary: fc.constant("POST") },
  { weight: 3, arbitrary: fc.constantFrom("GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") },
  { weight: 1, arbitrary: fc.constantFrom("TRACE", "PROPFIND", "FOO") },
);
