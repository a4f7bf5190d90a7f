// sync_collaborators — upsert by email, in order, with item errors and field limits.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";

// deno-lint-ignore no-explicit-any
type Item = Record<string, any>;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The item error: `Collaborator <external_id> (<email>): <reason>`. */
function assertItemError(message: unknown, externalId: string, email: string) {
  const shape = new RegExp(`^Collaborator ${escapeRegExp(externalId)} \\(${escapeRegExp(email)}\\): \\S.*$`, "s");
  assert.match(String(message), shape);
}

interface Row {
  external_id: string;
  name: string;
  email: string;
  phone: string | null;
  document: string | null;
  team: string | null;
  role: string | null;
  metadata: Record<string, unknown> | null;
}

Deno.test("sync_collaborators", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const { key } = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  const api = integrationHarness(test.db);

  const sync = (collaborators: unknown) => api.post(key, { action: "sync_collaborators", collaborators });
  const rows = async (where = "true", params: unknown[] = []) => [
    ...await test.db.query<Row>(
      `select external_id, name, email, phone, document, team, role, metadata
         from salesos.collaborators where tenant_id = $1 and (${where}) order by email_normalized`,
      [tenant, ...params],
    ),
  ];
  const byEmail = async (email: string) => {
    const found = await rows("email_normalized = lower($2)", [email]);
    assert.ok(found.length <= 1);
    return found[0];
  };
  const countAll = async () =>
    Number((await test.db.query<{ n: string }>("select count(*) as n from salesos.collaborators"))[0].n);

  await t.step("a new email is created and the same item again is existing (the documented example)", async () => {
    const maria = { external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" };
    const first = await sync([maria]);
    assert.equal(first.status, 200);
    assert.deepEqual(first.json.data, { created: 1, existing: 0, errors: [], total: 1 });
    const again = await sync([maria]);
    assert.equal(again.status, 200);
    assert.deepEqual(again.json.data, { created: 0, existing: 1, errors: [], total: 1 });
    assert.deepEqual(await rows("email_normalized = 'maria@yourcompany.com'"), [{
      external_id: "emp-101",
      name: "Maria Santos",
      email: "maria@yourcompany.com",
      phone: null,
      document: null,
      team: null,
      role: null,
      metadata: null,
    }]);
  });

  await t.step("the email identity is trimmed and case-insensitive", async () => {
    const res = await sync([{ external_id: "emp-101", name: "Maria Santos", email: "  MARIA@YourCompany.COM\t" }]);
    assert.deepEqual(res.json.data, { created: 0, existing: 1, errors: [], total: 1 });
    const found = await rows("email_normalized = 'maria@yourcompany.com'");
    assert.equal(found.length, 1);
    assert.equal(found[0].email, "MARIA@YourCompany.COM", "stored trimmed");

    const created = await sync([{ external_id: "emp-150", name: "Ana", email: " Ana.Lima@Example.com " }]);
    assert.deepEqual(created.json.data, { created: 1, existing: 0, errors: [], total: 1 });
    assert.equal((await byEmail("ana.lima@example.com")).email, "Ana.Lima@Example.com");
  });

  await t.step("given fields overwrite and omitted optional fields keep their value", async () => {
    const full = {
      external_id: "emp-200",
      name: "João Silva",
      email: "joao@example.com",
      phone: "+55 11 99999-0000",
      document: "123.456.789-00",
      team: "Inside Sales",
      role: "SDR",
      metadata: { region: "SP", level: 2 },
    };
    assert.deepEqual((await sync([full])).json.data, { created: 1, existing: 0, errors: [], total: 1 });

    const partial = { external_id: "emp-200", name: "João P. Silva", email: "joao@example.com", team: "Field Sales" };
    assert.deepEqual((await sync([partial])).json.data, { created: 0, existing: 1, errors: [], total: 1 });
    assert.deepEqual(await byEmail("joao@example.com"), {
      ...full,
      name: "João P. Silva",
      team: "Field Sales",
    });

    // A given metadata object replaces the stored one as a whole.
    const newMetadata = {
      external_id: "emp-200",
      name: "João P. Silva",
      email: "joao@example.com",
      metadata: { tier: "gold" },
    };
    await sync([newMetadata]);
    assert.deepEqual((await byEmail("joao@example.com")).metadata, { tier: "gold" });
    assert.equal((await byEmail("joao@example.com")).phone, "+55 11 99999-0000");
  });

  await t.step("a known email takes a new external_id that nobody else holds", async () => {
    const res = await sync([{ external_id: "emp-200-b", name: "João P. Silva", email: "joao@example.com" }]);
    assert.deepEqual(res.json.data, { created: 0, existing: 1, errors: [], total: 1 });
    assert.equal((await byEmail("joao@example.com")).external_id, "emp-200-b");
    // The old external_id is free again.
    const reuse = await sync([{ external_id: "emp-200", name: "New Hire", email: "newhire@example.com" }]);
    assert.deepEqual(reuse.json.data, { created: 1, existing: 0, errors: [], total: 1 });
  });

  await t.step(
    "items apply in order: a repeated email is existing on its second appearance and the last value wins",
    async () => {
      const res = await sync([
        { external_id: "emp-300", name: "First Name", email: "repeat@example.com", phone: "111", team: "A" },
        { external_id: "emp-300", name: "Second Name", email: " REPEAT@example.com", team: "B" },
        { external_id: "emp-301", name: "Third Name", email: "repeat@example.com", role: "AE" },
      ]);
      assert.deepEqual(res.json.data, { created: 1, existing: 2, errors: [], total: 3 });
      assert.deepEqual(await byEmail("repeat@example.com"), {
        external_id: "emp-301",
        name: "Third Name",
        email: "repeat@example.com",
        phone: "111",
        document: null,
        team: "B",
        role: "AE",
        metadata: null,
      });
    },
  );

  await t.step("invalid items are left out and reported while the rest is written", async () => {
    const before = await countAll();
    const res = await sync([
      { external_id: "emp-400", name: "Valid One", email: "valid1@example.com" },
      { external_id: "emp-401", email: "noname@example.com" },
      "not an object",
      { external_id: "emp-402", name: "Bad Email", email: "not-an-email" },
      { external_id: "emp-403", name: "Valid Two", email: "valid2@example.com" },
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.json.data.created, 2);
    assert.equal(res.json.data.existing, 0);
    assert.equal(res.json.data.total, 5);
    assert.equal(res.json.data.errors.length, 3);
    assertItemError(res.json.data.errors[0], "emp-401", "noname@example.com");
    assert.match(res.json.data.errors[1], /^Collaborator .*: \S/);
    assertItemError(res.json.data.errors[2], "emp-402", "not-an-email");
    assert.equal(await countAll(), before + 2);
    assert.equal(await byEmail("noname@example.com"), undefined);
    assert.equal(await byEmail("not-an-email"), undefined);
    assert.ok(await byEmail("valid1@example.com"));
    assert.ok(await byEmail("valid2@example.com"));
  });

  await t.step("an item error echoes at most 320 characters of each field", async () => {
    const nested = JSON.parse("[".repeat(5000) + "]".repeat(5000));
    const res = await sync([
      { external_id: "😀".repeat(3000), name: "Long Id", email: "long-id@example.com" },
      { external_id: "😀".repeat(300), name: "Emoji Id", email: "emoji-id@example.com" },
      { external_id: nested, name: "Nested Id", email: "nested-id@example.com" },
    ]);
    assert.equal(res.status, 200);
    const [long, whole, deep] = res.json.data.errors;
    assert.equal(
      long,
      `Collaborator ${"😀".repeat(320)}… (long-id@example.com): external_id must be a string of 1-255 characters`,
    );
    assert.equal(
      whole,
      `Collaborator ${"😀".repeat(300)} (emoji-id@example.com): external_id must be a string of 1-255 characters`,
      "300 characters (600 UTF-16 units) are echoed whole",
    );
    assert.equal(
      deep,
      `Collaborator ${"[".repeat(320)}… (nested-id@example.com): external_id must be a string of 1-255 characters`,
    );
  });

  await t.step("an invalid item for a known email changes nothing of it", async () => {
    const res = await sync([{ external_id: "emp-400", name: "", email: "valid1@example.com", team: "Changed" }]);
    assert.deepEqual(res.json.data.created + res.json.data.existing, 0);
    assertItemError(res.json.data.errors[0], "emp-400", "valid1@example.com");
    assert.equal((await byEmail("valid1@example.com")).team, null);
  });

  await t.step("an external_id held by another collaborator is an item error", async () => {
    const res = await sync([
      { external_id: "emp-101", name: "Impostor", email: "impostor@example.com" },
      { external_id: "emp-500", name: "Fine", email: "fine@example.com" },
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.json.data.created, 1);
    assert.equal(res.json.data.existing, 0);
    assert.equal(res.json.data.total, 2);
    assert.equal(res.json.data.errors.length, 1);
    assertItemError(res.json.data.errors[0], "emp-101", "impostor@example.com");
    assert.equal(await byEmail("impostor@example.com"), undefined);
    assert.equal((await byEmail("maria@yourcompany.com")).external_id, "emp-101");

    // A known email may not take someone else's external_id either; its row stays as it was.
    const taking = await sync([{ external_id: "emp-101", name: "Fine Renamed", email: "fine@example.com" }]);
    assert.deepEqual([taking.json.data.created, taking.json.data.existing, taking.json.data.errors.length], [0, 0, 1]);
    assertItemError(taking.json.data.errors[0], "emp-101", "fine@example.com");
    assert.deepEqual((await byEmail("fine@example.com")).name, "Fine");
  });

  await t.step("an external_id claimed by an earlier item of the batch is an item error for a later one", async () => {
    const res = await sync([
      { external_id: "emp-600", name: "Claims First", email: "first600@example.com" },
      { external_id: "emp-600", name: "Claims Second", email: "second600@example.com" },
    ]);
    assert.equal(res.json.data.created, 1);
    assert.equal(res.json.data.errors.length, 1);
    assertItemError(res.json.data.errors[0], "emp-600", "second600@example.com");
    assert.equal((await byEmail("first600@example.com")).external_id, "emp-600");
    assert.equal(await byEmail("second600@example.com"), undefined);
  });

  await t.step("an external_id released by an earlier item of the batch can be taken by a later one", async () => {
    await sync([{ external_id: "emp-700", name: "Renumbered", email: "renumbered@example.com" }]);
    const res = await sync([
      { external_id: "emp-700-old", name: "Renumbered", email: "renumbered@example.com" },
      { external_id: "emp-700", name: "Successor", email: "successor@example.com" },
    ]);
    assert.deepEqual(res.json.data, { created: 1, existing: 1, errors: [], total: 2 });
    assert.equal((await byEmail("renumbered@example.com")).external_id, "emp-700-old");
    assert.equal((await byEmail("successor@example.com")).external_id, "emp-700");
  });

  await t.step("a successor that sorts first can take a released external_id in the same batch", async () => {
    await sync([{ external_id: "emp-710", name: "Zed", email: "zed@example.com" }]);
    const res = await sync([
      { external_id: "emp-710-old", name: "Zed", email: "zed@example.com" },
      { external_id: "emp-710", name: "Abe", email: "abe@example.com" },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(res.json.data, { created: 1, existing: 1, errors: [], total: 2 });
    assert.equal((await byEmail("abe@example.com")).external_id, "emp-710");
    assert.equal((await byEmail("zed@example.com")).external_id, "emp-710-old");
  });

  await t.step("two collaborators swap external_ids through a temporary one in one batch", async () => {
    await sync([
      { external_id: "swap-a", name: "Swap A", email: "swapa@example.com" },
      { external_id: "swap-b", name: "Swap B", email: "swapb@example.com" },
    ]);
    const res = await sync([
      { external_id: "swap-tmp", name: "Swap A", email: "swapa@example.com" },
      { external_id: "swap-a", name: "Swap B", email: "swapb@example.com" },
      { external_id: "swap-b", name: "Swap A", email: "swapa@example.com" },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(res.json.data, { created: 0, existing: 3, errors: [], total: 3 });
    assert.equal((await byEmail("swapa@example.com")).external_id, "swap-b");
    assert.equal((await byEmail("swapb@example.com")).external_id, "swap-a");
    assert.equal((await rows("external_id = 'swap-tmp'")).length, 0);
  });

  await t.step("an item rejected earlier in the batch does not block a later valid one", async () => {
    const res = await sync([
      { external_id: "emp-800", name: "Owner", email: "owner800@example.com" },
      { external_id: "emp-800", name: "Intruder", email: "intruder800@example.com" },
      { external_id: "emp-800", name: "Owner Again", email: "owner800@example.com" },
    ]);
    assert.equal(res.json.data.created, 1);
    assert.equal(res.json.data.existing, 1);
    assert.equal(res.json.data.errors.length, 1);
    assertItemError(res.json.data.errors[0], "emp-800", "intruder800@example.com");
    assert.equal((await byEmail("owner800@example.com")).name, "Owner Again");
  });

  await t.step("random batches agree with applying their items one by one, in order", async () => {
    let seed = 20261128;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let round = 0; round < 60; round++) {
      const roundTenant = await createTenant(test.db);
      const roundKey = (await createKey(test.db, roundTenant)).key;
      const model = new Map<string, string>(); // email -> external_id, as the contract applies items
      for (let batch = 0; batch < 3; batch++) {
        const items = Array.from({ length: 1 + random(6) }, () => ({
          external_id: `e${random(4)}`,
          name: "Random",
          email: `m${random(4)}@example.com`,
        }));
        const expected = { created: 0, existing: 0, errors: [] as string[], total: items.length };
        for (const item of items) {
          const holder = [...model].find(([, externalId]) => externalId === item.external_id)?.[0];
          if (holder !== undefined && holder !== item.email) {
            expected.errors.push(item.external_id + " " + item.email);
            continue;
          }
          if (model.has(item.email)) expected.existing++;
          else expected.created++;
          model.set(item.email, item.external_id);
        }
        const res = await api.post(roundKey, { action: "sync_collaborators", collaborators: items });
        assert.equal(res.status, 200);
        const context = JSON.stringify(items);
        assert.deepEqual(
          [res.json.data.created, res.json.data.existing, res.json.data.errors.length, res.json.data.total],
          [expected.created, expected.existing, expected.errors.length, expected.total],
          context,
        );
        res.json.data.errors.forEach((message: string, i: number) => {
          const [externalId, email] = expected.errors[i].split(" ");
          assertItemError(message, externalId, email);
        });
        const stored = await test.db.query<{ email: string; external_id: string }>(
          "select email, external_id from salesos.collaborators where tenant_id = $1",
          [roundTenant],
        );
        assert.deepEqual(
          Object.fromEntries(stored.map((r) => [r.email, r.external_id]).sort()),
          Object.fromEntries([...model].sort()),
          context,
        );
      }
    }
  });

  await t.step("each field's limits: values at the limit are stored, values past it are item errors", async () => {
    const base = (n: number): Item => ({ external_id: `lim-${n}`, name: `Limit ${n}`, email: `limit${n}@example.com` });
    // 16 KiB serialized exactly: {"pad":"…"} is 10 bytes around the padding.
    const metadataAtLimit = { pad: "x".repeat(16 * 1024 - 10) };
    assert.equal(new TextEncoder().encode(JSON.stringify(metadataAtLimit)).byteLength, 16 * 1024);
    const metadataOverLimit = { pad: "x".repeat(16 * 1024 - 9) };
    const multiByteOverLimit = { pad: "é".repeat(8 * 1024) }; // 8192 chars but 16 KiB + 10 bytes of UTF-8

    const atLimit: Item[] = [
      { ...base(1), external_id: "e".repeat(255) },
      { ...base(2), external_id: "x" },
      { ...base(3), name: "n".repeat(255) },
      { ...base(4), name: "N" },
      { ...base(5), phone: "9".repeat(50) },
      { ...base(6), document: "d".repeat(20) },
      { ...base(7), team: "t".repeat(100) },
      { ...base(8), role: "r".repeat(50) },
      { ...base(9), metadata: metadataAtLimit },
      { ...base(10), metadata: {} },
      { ...base(11), phone: "", document: "", team: "", role: "" },
    ];
    const pastLimit: [string, Item][] = [
      ["external_id empty", { ...base(21), external_id: "" }],
      ["external_id 256", { ...base(22), external_id: "e".repeat(256) }],
      ["external_id missing", { name: "No Id", email: "limit23@example.com" }],
      ["external_id number", { ...base(24), external_id: 24 }],
      ["name empty", { ...base(25), name: "" }],
      ["name 256", { ...base(26), name: "n".repeat(256) }],
      ["name number", { ...base(27), name: 27 }],
      ["email missing", { external_id: "lim-28", name: "No Email" }],
      ["email empty", { ...base(29), email: "" }],
      ["email without domain", { ...base(30), email: "limit30@" }],
      ["email without @", { ...base(31), email: "limit31.example.com" }],
      ["email with a space inside", { ...base(32), email: "limit 32@example.com" }],
      ["email number", { ...base(33), email: 33 }],
      ["phone 51", { ...base(34), phone: "9".repeat(51) }],
      ["phone number", { ...base(35), phone: 5511999990000 }],
      ["document 21", { ...base(36), document: "d".repeat(21) }],
      ["team 101", { ...base(37), team: "t".repeat(101) }],
      ["role 51", { ...base(38), role: "r".repeat(51) }],
      ["metadata 16 KiB + 1", { ...base(39), metadata: metadataOverLimit }],
      ["metadata 16 KiB of UTF-8 + 10", { ...base(40), metadata: multiByteOverLimit }],
      ["metadata array", { ...base(41), metadata: [1, 2] }],
      ["metadata string", { ...base(42), metadata: "{}" }],
      ["metadata number", { ...base(43), metadata: 1 }],
    ];
    const before = await countAll();
    const res = await sync([...atLimit, ...pastLimit.map(([, item]) => item)]);
    assert.equal(res.status, 200);
    assert.equal(res.json.data.created, atLimit.length);
    assert.equal(res.json.data.existing, 0);
    assert.equal(res.json.data.total, atLimit.length + pastLimit.length);
    assert.equal(res.json.data.errors.length, pastLimit.length, JSON.stringify(res.json.data.errors, null, 1));
    pastLimit.forEach(([label, item], i) => {
      const message = res.json.data.errors[i];
      assert.match(message, /^Collaborator .* \(.*\): \S/, label);
      if (typeof item.external_id === "string" && typeof item.email === "string") {
        assertItemError(message, item.external_id, item.email);
      }
    });
    assert.equal(await countAll(), before + atLimit.length);
    for (const item of atLimit) {
      const stored = await byEmail(item.email);
      assert.ok(stored, item.email);
      for (const field of ["external_id", "name", "phone", "document", "team", "role", "metadata"]) {
        if (field in item) assert.deepEqual(stored[field as keyof Row], item[field], `${item.email} ${field}`);
      }
    }
    for (const [label, item] of pastLimit) {
      if (typeof item.email === "string" && item.email) {
        assert.equal(await byEmail(item.email.trim()), undefined, label);
      }
    }
  });

  await t.step("text with a NUL character or a lone surrogate is an item error, not a server error", async () => {
    const res = await sync([
      { external_id: "nul\u0000id", name: "Nul", email: "nul1@example.com" },
      { external_id: "nul-2", name: "Broken \ud800 name", email: "nul2@example.com" },
      { external_id: "nul-3", name: "Nul Meta", email: "nul3@example.com", metadata: { note: "a\u0000b" } },
      { external_id: "nul-4", name: "Fine", email: "nul4@example.com" },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.data.created, 1);
    assert.equal(res.json.data.errors.length, 3);
    for (const email of ["nul1@example.com", "nul2@example.com", "nul3@example.com"]) {
      assert.equal(await byEmail(email), undefined, email);
    }
    assertItemError(res.json.data.errors[1], "nul-2", "nul2@example.com");
    assertItemError(res.json.data.errors[2], "nul-3", "nul3@example.com");
    assert.ok(await byEmail("nul4@example.com"));
  });

  await t.step("more than 500 items is 400 and nothing is written", async () => {
    const before = await countAll();
    const items = Array.from(
      { length: 501 },
      (_, i) => ({ external_id: `big-${i}`, name: `Big ${i}`, email: `big${i}@example.com` }),
    );
    const res = await sync(items);
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, "VALIDATION_ERROR");
    assert.equal(res.json.data, undefined);
    assert.equal(await countAll(), before);
  });

  await t.step("exactly 500 items are accepted", async () => {
    const items = Array.from(
      { length: 500 },
      (_, i) => ({ external_id: `max-${i}`, name: `Max ${i}`, email: `max${i}@example.com` }),
    );
    const res = await sync(items);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.data, { created: 500, existing: 0, errors: [], total: 500 });
    assert.equal((await rows("external_id like 'max-%'")).length, 500);
  });

  await t.step("a missing or non-array collaborators field is 400 and nothing is written", async () => {
    const before = await countAll();
    for (
      const body of [
        { action: "sync_collaborators" },
        { action: "sync_collaborators", collaborators: { external_id: "x", name: "x", email: "x@example.com" } },
        { action: "sync_collaborators", collaborators: null },
      ]
    ) {
      const res = await api.post(key, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error.code, "VALIDATION_ERROR");
    }
    assert.equal(await countAll(), before);
  });

  await t.step("an empty array is 200 with every count 0", async () => {
    const res = await sync([]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.data, { created: 0, existing: 0, errors: [], total: 0 });
  });

  await t.step("total is the number of items received and the counts add up to it", async () => {
    const res = await sync([
      { external_id: "sum-1", name: "Sum One", email: "sum1@example.com" },
      { external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" },
      { external_id: "sum-3", name: "Sum Three" },
      7,
    ]);
    const { created, existing, errors, total } = res.json.data;
    assert.deepEqual([created, existing, errors.length, total], [1, 1, 2, 4]);
  });

  await t.step("10 concurrent identical batches leave one row per email", async () => {
    const batch = Array.from({ length: 50 }, (_, i) => ({
      external_id: `conc-${i}`,
      name: `Concurrent ${i}`,
      email: `Concurrent${i}@Example.com`,
      team: "Parallel",
    }));
    // Five instances, each with its own connection pool, two batches each, all at once.
    const instances = Array.from({ length: 5 }, () => integrationHarness(test.connect()));
    const answers = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => instances[i % 5].post(key, { action: "sync_collaborators", collaborators: batch }),
      ),
    );
    for (const a of answers) {
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assert.deepEqual(a.json.data.errors, []);
      assert.equal(a.json.data.created + a.json.data.existing, 50);
      assert.equal(a.json.data.total, 50);
    }
    assert.equal(answers.reduce((sum, a) => sum + a.json.data.created, 0), 50, "each email created once");
    const [{ rows: stored, emails }] = await test.db.query<{ rows: string; emails: string }>(
      `select count(*) as rows, count(distinct email_normalized) as emails
         from salesos.collaborators where tenant_id = $1 and external_id like 'conc-%'`,
      [tenant],
    );
    assert.deepEqual([Number(stored), Number(emails)], [50, 50]);
  });

  await t.step(
    "a batch whose external_ids concurrent batches keep taking is 503 with Retry-After, nothing written",
    async () => {
      // Stands in for concurrent batches taking the contested ids between each walk and its write.
      await test.db.exec(`
        create function public.contested_external_id() returns trigger language plpgsql as $$
        begin
          raise unique_violation using message = 'taken by a concurrent batch';
        end $$;
        create trigger contested before insert or update on salesos.collaborators
          for each row when (new.external_id like 'contested-%') execute function public.contested_external_id();
      `);
      try {
        const before = await countAll();
        const res = await sync([
          { external_id: "free-1", name: "Free", email: "free1@example.com" },
          { external_id: "contested-1", name: "Taken", email: "taken1@example.com" },
        ]);
        assert.deepEqual([res.status, res.json.error.code, res.headers.get("retry-after")], [
          503,
          "SERVICE_UNAVAILABLE",
          "5",
        ]);
        assert.equal(await countAll(), before, "nothing of the batch is written");
      } finally {
        await test.db.exec(
          "drop trigger contested on salesos.collaborators; drop function public.contested_external_id()",
        );
      }
    },
  );
});
