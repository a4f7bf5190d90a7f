// sync_activities — all-or-nothing validation, then duplicates, skipped and processed.
import assert from "node:assert/strict";
import { freshDatabase, lockWaiters, openTransaction } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";

// deno-lint-ignore no-explicit-any
type Item = Record<string, any>;

const invalidPayload = "Invalid activities payload";
const codeMessage = 'Required 3-digit string (001-999), e.g. "001"';
const externalIdMessage = "Required string (1-255 characters)";
const emailMessage = "Required valid email";

interface Detail {
  index: number;
  field: string;
  message: string;
}

const byIndexAndField = (a: Detail, b: Detail) => a.index - b.index || a.field.localeCompare(b.field);

Deno.test("sync_activities", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const { key, id: keyId } = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  const api = integrationHarness(test.db);

  const sync = (activities: unknown) => api.post(key, { action: "sync_activities", activities });
  const maria = "maria@yourcompany.com";
  const collaborators = [
    { external_id: "emp-101", name: "Maria Santos", email: maria },
    { external_id: "emp-102", name: "Pedro Alves", email: "pedro@yourcompany.com" },
    ...Array.from(
      { length: 10 },
      (_, i) => ({ external_id: `rep-${i}`, name: `Rep ${i}`, email: `rep${i}@example.com` }),
    ),
  ];
  const seeded = await api.post(key, { action: "sync_collaborators", collaborators });
  assert.equal(seeded.json.data.created, collaborators.length);

  let serial = 0;
  const activity = (overrides: Item = {}): Item => ({
    activity_code: "001",
    external_id: `act-${++serial}`,
    collaborator_email: maria,
    ...overrides,
  });
  const countActivities = async () =>
    Number((await test.db.query<{ n: string }>("select count(*) as n from salesos.activities"))[0].n);
  const stored = async (externalId: string) => {
    const rows = await test.db.query<{
      activity_code: string;
      email: string;
      data: Record<string, unknown> | null;
      occurred_at: Date;
      request_id: string;
      environment: string;
    }>(
      `select a.activity_code, c.email_normalized as email, a.data, a.occurred_at, a.request_id::text, a.environment
         from salesos.activities a join salesos.collaborators c on c.id = a.collaborator_id
        where a.tenant_id = $1 and a.external_id = $2`,
      [tenant, externalId],
    );
    assert.ok(rows.length <= 1);
    return rows[0];
  };
  /** Sends a batch expected to be refused; checks the 400 and that nothing was written. */
  const refused = async (activities: unknown[]): Promise<Detail[]> => {
    const before = await countActivities();
    const res = await sync(activities);
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error.code, "VALIDATION_ERROR");
    assert.equal(res.json.error.message, invalidPayload);
    assert.equal(res.json.data, undefined);
    assert.equal(await countActivities(), before, "nothing written");
    for (const item of activities) {
      const externalId = (item as Item)?.external_id;
      if (typeof externalId === "string" && !externalId.includes("\u0000") && externalId.isWellFormed()) {
        assert.equal(await stored((item as Item).external_id), undefined);
      }
    }
    return [...res.json.error.details].sort(byIndexAndField);
  };

  await t.step("the contract example is processed, and the same batch again is a duplicate", async () => {
    const example = {
      activity_code: "001",
      external_id: "crm-call-5001",
      collaborator_email: maria,
      data: { client: "Acme Corp", duration_min: 12 },
      occurred_at: "2026-03-17T09:15:00-03:00",
    };
    const first = await sync([example]);
    assert.equal(first.status, 200);
    assert.deepEqual(first.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
    const row = await stored("crm-call-5001");
    assert.deepEqual(row, {
      activity_code: "001",
      email: maria,
      data: { client: "Acme Corp", duration_min: 12 },
      occurred_at: new Date("2026-03-17T12:15:00.000Z"),
      request_id: first.json.meta.request_id,
      environment: "live",
    });
    const again = await sync([example]);
    assert.deepEqual(again.json.data, { processed: 0, skipped: 0, duplicates: 1, errors: [], total: 1 });
    assert.deepEqual(await stored("crm-call-5001"), row);
  });

  await t.step("activity_code accepts exactly three digits 001-999", async () => {
    const res = await sync(["001", "010", "099", "500", "999"].map((code) => activity({ activity_code: code })));
    assert.deepEqual(res.json.data, { processed: 5, skipped: 0, duplicates: 0, errors: [], total: 5 });
  });

  await t.step("any other activity_code is refused with the contract message and nothing is written", async () => {
    const bad = ["000", "1", "01", "1000", "", " 001", "001 ", "abc", "0x1", "१२३", 1, 1.5, null, true, ["001"]];
    const items = [activity(), ...bad.map((code) => activity({ activity_code: code })), activity()];
    const { activity_code: _, ...withoutCode } = activity();
    items.push(withoutCode);
    const details = await refused(items);
    const expected = [...bad.map((_, i) => i + 1), items.length - 1].map((index) => ({
      index,
      field: "activity_code",
      message: codeMessage,
    }));
    assert.deepEqual(details, expected);
  });

  await t.step("external_id must be a string of 1-255 characters", async () => {
    const ok = await sync([activity({ external_id: "x".repeat(255) }), activity({ external_id: "1" })]);
    assert.deepEqual(ok.json.data.processed, 2);
    const bad = ["", "y".repeat(256), 42, null, { id: 1 }, "nul\u0000inside", "lone \udc00 surrogate"];
    const items: Item[] = bad.map((externalId) => activity({ external_id: externalId }));
    const { external_id: _, ...withoutId } = activity();
    items.push(withoutId);
    const details = await refused(items);
    assert.deepEqual(details, items.map((_, index) => ({ index, field: "external_id", message: externalIdMessage })));
  });

  await t.step("collaborator_email must be a valid email", async () => {
    const bad = ["", "maria", "maria@", "@yourcompany.com", "maria yourcompany.com", "ma ria@yourcompany.com", 7, null];
    const items: Item[] = bad.map((email) => activity({ collaborator_email: email }));
    const { collaborator_email: _, ...withoutEmail } = activity();
    items.push(withoutEmail);
    const details = await refused(items);
    assert.deepEqual(details, items.map((_, index) => ({ index, field: "collaborator_email", message: emailMessage })));
  });

  await t.step("one details entry per invalid field, indexed by position, for every invalid item", async () => {
    const details = await refused([
      activity(),
      { activity_code: "0001", external_id: "", collaborator_email: "nope" },
      activity(),
      activity({ collaborator_email: "still-nope" }),
      activity({ data: [1, 2, 3], occurred_at: "yesterday" }),
    ]);
    assert.deepEqual(details.filter((d) => d.index !== 4), [
      { index: 1, field: "activity_code", message: codeMessage },
      { index: 1, field: "collaborator_email", message: emailMessage },
      { index: 1, field: "external_id", message: externalIdMessage },
      { index: 3, field: "collaborator_email", message: emailMessage },
    ]);
    assert.deepEqual(details.filter((d) => d.index === 4).map((d) => d.field), ["data", "occurred_at"]);
    for (const d of details) assert.ok(typeof d.message === "string" && d.message.length > 0);
  });

  await t.step("an item that is not an object is refused and nothing is written", async () => {
    const details = await refused([activity(), "crm-call", null, 17, [activity()]]);
    assert.deepEqual(details.map((d) => d.index), [1, 2, 3, 4]);
  });

  await t.step("occurred_at with Z or an offset is accepted and stored as that instant", async () => {
    const cases: [string, string][] = [
      ["2026-03-17T09:15:00Z", "2026-03-17T09:15:00.000Z"],
      ["2026-03-17T09:15:00.250+05:30", "2026-03-17T03:45:00.250Z"],
      ["2026-03-17T09:15:00-03:00", "2026-03-17T12:15:00.000Z"],
      ["2026-03-17T09:15:00+00:00", "2026-03-17T09:15:00.000Z"],
      ["2024-02-29T23:59:59.999z".toUpperCase(), "2024-02-29T23:59:59.999Z"],
    ];
    const items = cases.map(([occurredAt]) => activity({ occurred_at: occurredAt }));
    const res = await sync(items);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.data.processed, cases.length);
    for (const [i, [, instant]] of cases.entries()) {
      assert.equal((await stored(items[i].external_id)).occurred_at.toISOString(), instant, cases[i][0]);
    }
  });

  await t.step("occurred_at as RFC 3339 also allows it (t, z, a space) is stored as that instant", async () => {
    const cases: [string, string][] = [
      ["2026-03-17t12:15:00z", "2026-03-17T12:15:00.000Z"],
      ["2026-03-17 12:15:00-03", "2026-03-17T15:15:00.000Z"],
      ["2026-03-17 12:15:00+05:30", "2026-03-17T06:45:00.000Z"],
      ["2026-03-17 12:15:00Z", "2026-03-17T12:15:00.000Z"],
      ["2026-03-17 12:15:00.5-0300", "2026-03-17T15:15:00.500Z"],
      ["2026-03-17T12:15:00-0300", "2026-03-17T15:15:00.000Z"],
      ["2026-03-17T12:15:00-03", "2026-03-17T15:15:00.000Z"],
    ];
    const items = cases.map(([occurredAt]) => activity({ occurred_at: occurredAt }));
    const res = await sync(items);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.data.processed, cases.length);
    for (const [i, [, instant]] of cases.entries()) {
      assert.equal((await stored(items[i].external_id)).occurred_at.toISOString(), instant, cases[i][0]);
    }
  });

  await t.step("occurred_at without an offset is refused with a message saying the offset is missing", async () => {
    const local = ["2026-03-17T09:15:00", "2026-03-17 09:15:00", "2026-03-17t09:15:00.250"];
    const details = await refused([...local, "2026-02-30 10:00:00Z"].map((at) => activity({ occurred_at: at })));
    const missing = "Offset missing: add Z or an offset such as -03:00 to the date-time (at most 24 hours ahead)";
    assert.deepEqual(details, [
      ...local.map((_, index) => ({ index, field: "occurred_at", message: missing })),
      {
        index: local.length,
        field: "occurred_at",
        message: "Optional ISO 8601 date-time with offset or Z, at most 24 hours ahead",
      },
    ]);
  });

  await t.step("occurred_at without an offset, malformed, or more than 24 h ahead is refused", async () => {
    const bad = [
      "2026-03-17T09:15:00",
      "2026-03-17 09:15:00",
      "2026-03-17",
      "2026-03-17  09:15:00Z",
      "2026-03-17x09:15:00Z",
      "2026-03-17 25:00:00-03",
      new Date(Date.now() + 25 * 3600_000).toISOString().replace("T", " ").toLowerCase(),
      "17/03/2026 09:15",
      "2026-02-30T10:00:00Z",
      "2025-02-29T10:00:00Z",
      "2026-03-17T25:00:00Z",
      "2026-03-17T09:15:61Z",
      "2026-03-17T09:15:00+16:00",
      "2026-03-17T09:15:00+5",
      "2026-03-17T09:15:00+05:",
      "not a date",
      "",
      1773738900000,
      new Date(Date.now() + 25 * 3600_000).toISOString(),
      new Date(Date.now() + 30 * 24 * 3600_000).toISOString().replace("Z", "+00:00"),
    ];
    const details = await refused(bad.map((occurredAt) => activity({ occurred_at: occurredAt })));
    assert.deepEqual(details.map((d) => [d.index, d.field]), bad.map((_, i) => [i, "occurred_at"]));
  });

  await t.step(
    "occurred_at on a leap day or second, with fractions or an extreme offset is stored as that instant",
    async () => {
      const cases: [string, string][] = [
        // A leap second (RFC 3339 allows second 60) is the next second's start, as Postgres reads it.
        ["2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000Z"],
        ["2016-12-31T20:59:60.5-03:00", "2017-01-01T00:00:00.500Z"],
        // RFC 3339 puts no limit on fraction digits; the instant is kept to the microsecond.
        ["2026-03-17T09:15:00.123456789012Z", "2026-03-17T09:15:00.123Z"],
        ["2024-02-29T23:30:00+14:00", "2024-02-29T09:30:00.000Z"],
        ["2026-03-17T09:15:00.1234567-0300", "2026-03-17T12:15:00.123Z"],
        ["2026-03-17T09:15-12:00", "2026-03-17T21:15:00.000Z"],
        // An offset in whole hours, as ISO 8601 allows.
        ["2026-03-17T09:15:00+05", "2026-03-17T04:15:00.000Z"],
      ];
      for (const [given, instant] of cases) {
        const item = activity({ occurred_at: given });
        assert.equal((await sync([item])).json.data.processed, 1, given);
        assert.equal((await stored(item.external_id)).occurred_at.toISOString(), instant, given);
      }
    },
  );

  await t.step("occurred_at up to 24 h ahead is accepted", async () => {
    const soon = new Date(Date.now() + 23 * 3600_000 + 50 * 60_000).toISOString();
    const item = activity({ occurred_at: soon });
    const res = await sync([item]);
    assert.equal(res.json.data.processed, 1);
    assert.equal((await stored(item.external_id)).occurred_at.toISOString(), soon);
  });

  await t.step("without occurred_at the time the request was received is stored", async () => {
    const before = Date.now();
    const items = [activity(), activity({ occurred_at: null })];
    const res = await sync(items);
    const after = Date.now();
    assert.equal(res.json.data.processed, 2);
    for (const item of items) {
      const at = (await stored(item.external_id)).occurred_at.getTime();
      assert.ok(at >= before - 1000 && at <= after + 1000, `${new Date(at).toISOString()} not in the request`);
    }
  });

  await t.step("data is an optional JSON object of at most 16 KiB serialized", async () => {
    const atLimit = { notes: "n".repeat(16 * 1024 - 12) }; // {"notes":"…"} is 12 bytes around it
    assert.equal(new TextEncoder().encode(JSON.stringify(atLimit)).byteLength, 16 * 1024);
    const nested = { client: { name: "Acme", tags: ["a", "b"], score: 9.5, open: true, owner: null } };
    const items = [activity({ data: atLimit }), activity({ data: nested }), activity({ data: {} })];
    const res = await sync(items);
    assert.equal(res.json.data.processed, 3);
    assert.deepEqual((await stored(items[0].external_id)).data, atLimit);
    assert.deepEqual((await stored(items[1].external_id)).data, nested);
    assert.deepEqual((await stored(items[2].external_id)).data, {});

    const bad = [
      { notes: "n".repeat(16 * 1024 - 11) },
      { notes: "ç".repeat(8 * 1024) }, // 8192 characters, 16 KiB + 12 bytes of UTF-8
      [1, 2],
      "{}",
      5,
      { text: "nul \u0000 inside" },
    ];
    const details = await refused(bad.map((data) => activity({ data })));
    assert.deepEqual(details.map((d) => [d.index, d.field]), bad.map((_, i) => [i, "data"]));
  });

  await t.step("an external_id already stored is a duplicate and changes nothing", async () => {
    const original = activity({ activity_code: "002", data: { v: 1 }, occurred_at: "2026-01-01T00:00:00Z" });
    await sync([original]);
    const row = await stored(original.external_id);
    const replay = {
      ...original,
      activity_code: "003",
      data: { v: 2 },
      occurred_at: "2026-02-01T00:00:00Z",
      collaborator_email: "pedro@yourcompany.com",
    };
    const res = await sync([replay]);
    assert.deepEqual(res.json.data, { processed: 0, skipped: 0, duplicates: 1, errors: [], total: 1 });
    assert.deepEqual(await stored(original.external_id), row);
  });

  await t.step("an external_id repeated in the batch is a duplicate on its later appearances", async () => {
    const first = activity({ activity_code: "010" });
    const res = await sync([
      first,
      { ...first, activity_code: "011" },
      activity(),
      { ...first, activity_code: "012", collaborator_email: "pedro@yourcompany.com" },
    ]);
    assert.deepEqual(res.json.data, { processed: 2, skipped: 0, duplicates: 2, errors: [], total: 4 });
    const row = await stored(first.external_id);
    assert.deepEqual([row.activity_code, row.email], ["010", maria]);
  });

  await t.step(
    "an email matching no collaborator of this tenant and environment is skipped and not stored",
    async () => {
      const unknown = activity({ collaborator_email: "ghost@yourcompany.com" });
      const res = await sync([unknown, activity()]);
      assert.deepEqual(res.json.data, { processed: 1, skipped: 1, duplicates: 0, errors: [], total: 2 });
      assert.equal(await stored(unknown.external_id), undefined);

      // Skipped means not recorded: once the collaborator exists, the same activity is processed.
      await api.post(key, {
        action: "sync_collaborators",
        collaborators: [{ external_id: "emp-ghost", name: "Ghost", email: "ghost@yourcompany.com" }],
      });
      const later = await sync([unknown]);
      assert.deepEqual(later.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
      assert.equal((await stored(unknown.external_id)).email, "ghost@yourcompany.com");
    },
  );

  await t.step(
    "a skipped item records nothing: a later item of its external_id with a known email is stored",
    async () => {
      const ghost = activity({ activity_code: "020", collaborator_email: "ghost-2@yourcompany.com" });
      const res = await sync([
        ghost,
        { ...ghost, activity_code: "021", collaborator_email: "nobody-2@yourcompany.com" },
        { ...ghost, activity_code: "022", collaborator_email: maria },
        { ...ghost, activity_code: "023", collaborator_email: "pedro@yourcompany.com" },
        { ...ghost, activity_code: "024", collaborator_email: "ghost-3@yourcompany.com" },
      ]);
      assert.deepEqual(res.json.data, { processed: 1, skipped: 2, duplicates: 2, errors: [], total: 5 });
      const row = await stored(ghost.external_id);
      assert.deepEqual([row.activity_code, row.email], ["022", maria]);

      const again = await sync([ghost, { ...ghost, activity_code: "022", collaborator_email: maria }]);
      assert.deepEqual(again.json.data, { processed: 0, skipped: 0, duplicates: 2, errors: [], total: 2 });
    },
  );

  await t.step("items of an external_id that a concurrent batch stores first are all duplicates", async () => {
    const ghost = activity({ collaborator_email: "ghost-4@yourcompany.com" });
    // Another batch has stored the external_id and not committed yet: this one waits for it.
    await using other = await openTransaction(test.url);
    await other.query(
      "select * from salesos.sync_activities($1::uuid, 'live', $2::uuid, gen_random_uuid(), null, 0, $3::jsonb)",
      [tenant, keyId, [[0, "001", ghost.external_id, maria, null, null]]],
    );
    const pending = sync([ghost, { ...ghost, collaborator_email: maria }]);
    await lockWaiters(test.db, 1);
    await other.finish("commit");
    const res = await pending;
    assert.deepEqual(res.json.data, { processed: 0, skipped: 0, duplicates: 2, errors: [], total: 2 });
  });

  await t.step("an external_id already stored counts as a duplicate even if its email is now unknown", async () => {
    const original = activity();
    await sync([original]);
    const res = await sync([{ ...original, collaborator_email: "nobody@yourcompany.com" }]);
    assert.deepEqual(res.json.data, { processed: 0, skipped: 0, duplicates: 1, errors: [], total: 1 });
  });

  await t.step("the collaborator email is matched trimmed and case-insensitively", async () => {
    const items = [
      activity({ collaborator_email: "  MARIA@YourCompany.com " }),
      activity({ collaborator_email: "Pedro@YOURCOMPANY.COM" }),
    ];
    const res = await sync(items);
    assert.deepEqual(res.json.data, { processed: 2, skipped: 0, duplicates: 0, errors: [], total: 2 });
    assert.equal((await stored(items[0].external_id)).email, maria);
    assert.equal((await stored(items[1].external_id)).email, "pedro@yourcompany.com");
  });

  await t.step("processed, skipped and duplicates add up to total", async () => {
    const known = activity();
    await sync([known]);
    const fresh = activity({ collaborator_email: "rep3@example.com" });
    const res = await sync([
      known,
      fresh,
      activity({ collaborator_email: "stranger@example.com" }),
      { ...fresh, activity_code: "555" },
      activity(),
      activity({ collaborator_email: "stranger2@example.com" }),
    ]);
    assert.deepEqual(res.json.data, { processed: 2, skipped: 2, duplicates: 2, errors: [], total: 6 });
  });

  await t.step("an empty array is 200 with every count 0", async () => {
    const res = await sync([]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.data, { processed: 0, skipped: 0, duplicates: 0, errors: [], total: 0 });
  });

  await t.step("a missing or non-array activities field is 400 and nothing is written", async () => {
    const before = await countActivities();
    for (
      const body of [
        { action: "sync_activities" },
        { action: "sync_activities", activities: activity() },
        { action: "sync_activities", activities: "[]" },
      ]
    ) {
      const res = await api.post(key, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error.code, "VALIDATION_ERROR");
    }
    assert.equal(await countActivities(), before);
  });

  await t.step("more than 1000 activities is 400 and nothing is written", async () => {
    const before = await countActivities();
    const res = await sync(Array.from({ length: 1001 }, () => activity()));
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, "VALIDATION_ERROR");
    assert.equal(res.json.error.message, invalidPayload);
    assert.equal(await countActivities(), before);
  });

  await t.step("20 concurrent replays of a 1000-item batch store each activity exactly once", async () => {
    const emails = collaborators.map((c) => c.email);
    const distinct = Array.from({ length: 850 }, (_, i) =>
      activity({
        external_id: `replay-${i}`,
        activity_code: String((i % 999) + 1).padStart(3, "0"),
        collaborator_email: emails[i % emails.length],
        data: { i },
      }));
    const unknownEmail = Array.from(
      { length: 50 },
      (_, i) => activity({ external_id: `replay-ghost-${i}`, collaborator_email: `ghost${i}@example.com` }),
    );
    const repeats = distinct.slice(0, 100).map((a) => ({ ...a, activity_code: "999" }));
    const batch = [...distinct, ...unknownEmail, ...repeats];
    assert.equal(batch.length, 1000);
    // Shuffled (seeded) so repeats and unknown emails are spread through the batch.
    let seed = 42;
    for (let i = batch.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [batch[i], batch[j]] = [batch[j], batch[i]];
    }

    // Four instances, each with its own connection pool, five replays each, all at once.
    const instances = Array.from({ length: 4 }, () => integrationHarness(test.connect()));
    const answers = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => instances[i % 4].post(key, { action: "sync_activities", activities: batch }),
      ),
    );
    for (const a of answers) {
      assert.equal(a.status, 200, JSON.stringify(a.json));
      const { processed, skipped, duplicates, errors, total } = a.json.data;
      assert.deepEqual(errors, []);
      assert.equal(total, 1000);
      assert.equal(skipped, 50);
      assert.equal(processed + skipped + duplicates, total);
    }
    const sum = (field: string) => answers.reduce((s, a) => s + a.json.data[field], 0);
    assert.equal(sum("processed"), 850);
    assert.equal(sum("duplicates"), 20 * 1000 - 850 - 20 * 50);
    const [{ rows, ids }] = await test.db.query<{ rows: string; ids: string }>(
      `select count(*) as rows, count(distinct external_id) as ids from salesos.activities
        where tenant_id = $1 and external_id like 'replay-%'`,
      [tenant],
    );
    assert.deepEqual([Number(rows), Number(ids)], [850, 850]);
    const [{ ghosts }] = await test.db.query<{ ghosts: string }>(
      "select count(*) as ghosts from salesos.activities where external_id like 'replay-ghost-%'",
    );
    assert.equal(Number(ghosts), 0);
  });
});
