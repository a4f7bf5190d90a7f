// Idempotency under concurrency. 20 concurrent replays of one 1000-activity
// batch, through two real server processes, store exactly 1000 activities, and the counts of the
// 20 answers add up to 20 x 1000; the same with in-batch duplicates and unknown emails mixed in,
// and with 20 different batches that overlap (in shuffled order: no deadlock, no 503).
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { assertEnvelope, createKey, postJson, propertyTest, tally } from "../support/properties.ts";

const replays = 20;
const batchSize = 1000;
const people = 100;

interface Counts {
  processed: number;
  skipped: number;
  duplicates: number;
  total: number;
}

function sum(answers: Counts[]): Counts {
  return answers.reduce(
    (acc, x) => ({
      processed: acc.processed + x.processed,
      skipped: acc.skipped + x.skipped,
      duplicates: acc.duplicates + x.duplicates,
      total: acc.total + x.total,
    }),
    { processed: 0, skipped: 0, duplicates: 0, total: 0 },
  );
}

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const activity = (id: string, person: number) => ({
  activity_code: String((person % 999) + 1).padStart(3, "0"),
  external_id: id,
  collaborator_email: `Person${person}@Example.com `,
  data: { id, person, note: "é 中 🚀" },
  occurred_at: "2026-03-17T09:15:00-03:00",
});

propertyTest("3", "idempotency under concurrency", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  await using a = await startServer(env);
  await using b = await startServer(env);
  const servers = [a, b];
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  const runs: Record<string, unknown>[] = [];

  const send = (i: number, body: unknown) =>
    postJson(servers[i % 2].baseUrl, "default-integration", key.key, body, {}).then((answer) => {
      assertEnvelope(answer);
      assert.equal(answer.status, 200, answer.text);
      return answer.json.data as Counts;
    });

  async function stored(prefix: string): Promise<number> {
    const [row] = await test.db.query<{ n: string; distinct_ids: string }>(
      `select count(*) as n, count(distinct external_id) as distinct_ids from salesos.activities
        where tenant_id = $1 and external_id like $2 || '%'`,
      [tenant, prefix],
    );
    assert.equal(row.n, row.distinct_ids);
    return Number(row.n);
  }

  await step("the collaborators exist", async () => {
    const collaborators = Array.from({ length: people }, (_, p) => ({
      external_id: `emp-${p}`,
      name: `Person ${p}`,
      email: `person${p}@example.com`,
    }));
    const res = await postJson(a.baseUrl, "default-integration", key.key, {
      action: "sync_collaborators",
      collaborators,
    });
    assert.deepEqual(res.json.data, { created: people, existing: 0, errors: [], total: people });
  });

  await step("20 concurrent replays of one 1000-activity batch store exactly 1000 activities", async () => {
    const batch = {
      action: "sync_activities",
      activities: Array.from({ length: batchSize }, (_, i) => activity(`same-${i}`, i % people)),
    };
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: replays }, (_, i) => send(i, batch)));
    const wall = Math.round(performance.now() - started);
    const totals = sum(answers);
    assert.deepEqual(totals, {
      processed: batchSize,
      skipped: 0,
      duplicates: (replays - 1) * batchSize,
      total: replays * batchSize,
    });
    for (const x of answers) assert.equal(x.processed + x.skipped + x.duplicates, batchSize);
    assert.equal(await stored("same-"), batchSize);
    // What was stored is what was sent, once.
    const [check] = await test.db.query<{ wrong: string }>(
      `select count(*) as wrong from salesos.activities a join salesos.collaborators c on c.id = a.collaborator_id
        where a.external_id like 'same-%'
          and (c.email_normalized <> 'person' || (a.data ->> 'person') || '@example.com'
               or a.data ->> 'id' <> a.external_id or a.occurred_at <> '2026-03-17T12:15:00Z')`,
    );
    assert.equal(Number(check.wrong), 0);
    runs.push({ case: "one batch x 20", items_sent: replays * batchSize, stored: batchSize, ...totals, wall_ms: wall });
  });

  await step("with in-batch duplicates and unknown emails: stored once, counts add up to 20 x 1000", async () => {
    // 800 distinct known, 100 repeats of earlier items, 100 distinct unknown emails.
    const known = Array.from({ length: 800 }, (_, i) => activity(`mix-${i}`, i % people));
    const repeats = Array.from({ length: 100 }, (_, i) => activity(`mix-${i * 7}`, (i * 7) % people));
    const unknown = Array.from(
      { length: 100 },
      (_, i) => ({ ...activity(`mix-u${i}`, 0), collaborator_email: `nobody${i}@example.com` }),
    );
    const items = shuffle([...known, ...repeats, ...unknown]);
    const batch = { action: "sync_activities", activities: items };
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: replays }, (_, i) => send(i, batch)));
    const wall = Math.round(performance.now() - started);
    const totals = sum(answers);
    assert.deepEqual(totals, {
      processed: 800,
      skipped: replays * 100,
      duplicates: replays * batchSize - 800 - replays * 100,
      total: replays * batchSize,
    });
    assert.equal(await stored("mix-"), 800);
    runs.push({ case: "mixed batch x 20", items_sent: replays * batchSize, stored: 800, ...totals, wall_ms: wall });
  });

  await step("20 different overlapping batches in shuffled order: no deadlock, each activity once", async () => {
    // Batch i holds items 250*i .. 250*i+999 of a 5750-item range: neighbours share 750 items.
    const batches = Array.from({ length: replays }, (_, i) => ({
      action: "sync_activities",
      activities: shuffle(
        Array.from({ length: batchSize }, (_, j) => activity(`ovl-${250 * i + j}`, (250 * i + j) % people)),
      ),
    }));
    const distinct = 250 * (replays - 1) + batchSize;
    const started = performance.now();
    const answers = await Promise.all(batches.map((batch, i) => send(i, batch)));
    const wall = Math.round(performance.now() - started);
    const totals = sum(answers);
    assert.deepEqual(totals, {
      processed: distinct,
      skipped: 0,
      duplicates: replays * batchSize - distinct,
      total: replays * batchSize,
    });
    assert.equal(await stored("ovl-"), distinct);
    runs.push({
      case: "20 overlapping batches",
      items_sent: replays * batchSize,
      stored: distinct,
      ...totals,
      wall_ms: wall,
    });
  });

  await step("every answer was 200 and the request log holds one row per request", async () => {
    const rows = await test.db.query<{ status: number; n: string }>(
      "select status, count(*) as n from salesos.request_log where key_id = $1 and action = 'sync_activities' group by status",
      [key.id],
    );
    assert.deepEqual(tally(rows.flatMap((r) => Array(Number(r.n)).fill(r.status))), { 200: 3 * replays });
  });

  Object.assign(figures, {
    server_processes: 2,
    concurrent_replays: replays,
    batch_size: batchSize,
    runs,
    data_lost: 0,
    stored_twice: 0,
  });
});
