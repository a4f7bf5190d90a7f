// Faults. A TCP proxy (tests/support/tcp_proxy.ts) sits between a real
// server process and Postgres and is cut while concurrent sync batches run: first refusing (the
// database is gone), then silent (a network that answers nothing until it is back), each time
// restored. Every answer is a 200 or a 503 with Retry-After within a bounded time; no batch is
// half written (each batch has its own external_id prefix: a 200 batch is fully stored, any other
// batch all or nothing); the service recovers within 5 s of the database returning, without a
// restart. Then `kill -9` of the server process under load: nothing it acknowledged is lost, and
// replaying what it did not acknowledge stores each activity once.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";
import { assertEnvelope, createKey, postJson, propertyTest, sleep, tally } from "../support/properties.ts";

const workers = 8;
const batchSize = 50;
const people = 20;
const statementTimeoutMs = 1000;
/** The client deadline of a statement: its timeout, then 2.5 s (postgres.ts). */
const deadlineMs = statementTimeoutMs + 2500;
/** The longest a request may take: two statements, each with the client deadline, and slack. */
const answerBoundMs = 2 * deadlineMs + 2000;
const recoveryBoundMs = 5000;

interface Outcome {
  batch: number;
  status: number | "network error";
  sentAt: number;
  receivedAt: number;
  processed?: number;
  retryAfter?: string | null;
  requestId?: string | null;
  problems: string[];
}

const batchBody = (tag: string, batch: number) => ({
  action: "sync_activities",
  activities: Array.from({ length: batchSize }, (_, i) => ({
    activity_code: "001",
    external_id: `${tag}${batch}-${i}`,
    collaborator_email: `p${(batch + i) % people}@example.com`,
    data: { batch, i },
  })),
});

/** Workers sending batches one after another until stopped; every outcome recorded. */
function load(baseUrl: () => string, key: string, tag: string) {
  let next = 0;
  let stopped = false;
  const outcomes: Outcome[] = [];
  const running = Promise.all(Array.from({ length: workers }, async () => {
    while (!stopped) {
      const batch = next++;
      const sentAt = Date.now();
      try {
        const answer = await postJson(baseUrl(), "default-integration", key, batchBody(tag, batch), {});
        const problems: string[] = [];
        try {
          assertEnvelope(answer);
        } catch (error) {
          problems.push((error as Error).message.split("\n")[0]);
        }
        outcomes.push({
          batch,
          status: answer.status,
          sentAt,
          receivedAt: Date.now(),
          processed: answer.json?.data?.processed,
          retryAfter: answer.headers.get("retry-after"),
          requestId: answer.headers.get("x-request-id"),
          problems,
        });
      } catch {
        outcomes.push({ batch, status: "network error", sentAt, receivedAt: Date.now(), problems: [] });
        await sleep(20);
      }
    }
  }));
  return {
    outcomes,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

propertyTest("5", "faults: database cut under load, kill -9", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  await test.db.query(
    `insert into salesos.collaborators (tenant_id, environment, external_id, name, email)
     select $1, 'live', 'p' || n, 'P ' || n, 'p' || n || '@example.com' from generate_series(0, $2 - 1) n`,
    [tenant, people],
  );

  /** Stored activities per batch of this tag. */
  async function storedPerBatch(tag: string): Promise<Map<number, number>> {
    const rows = await test.db.query<{ batch: string; n: string }>(
      `select split_part(substr(external_id, length($1) + 1), '-', 1) as batch, count(*) as n
         from salesos.activities where tenant_id = $2 and external_id like $1 || '%' group by 1`,
      [tag, tenant],
    );
    return new Map(rows.map((r) => [Number(r.batch), Number(r.n)]));
  }

  /** Every acknowledged batch fully stored; every other batch all or nothing. */
  async function checkBatches(tag: string, outcomes: Outcome[]) {
    const stored = await storedPerBatch(tag);
    const problems: string[] = [];
    let acknowledged = 0;
    let unacknowledgedStored = 0;
    let unacknowledgedNothing = 0;
    for (const o of outcomes) {
      const n = stored.get(o.batch) ?? 0;
      if (o.status === 200) {
        acknowledged++;
        if (n !== batchSize) problems.push(`batch ${o.batch} acknowledged but ${n} of ${batchSize} stored`);
        if (o.processed !== batchSize) problems.push(`batch ${o.batch} answered processed=${o.processed}`);
      } else if (n === batchSize) {
        unacknowledgedStored++;
      } else if (n === 0) {
        unacknowledgedNothing++;
      } else {
        problems.push(`batch ${o.batch} (${o.status}) half written: ${n} of ${batchSize}`);
      }
    }
    assert.deepEqual(problems, []);
    return {
      acknowledged,
      unacknowledged_fully_stored: unacknowledgedStored,
      unacknowledged_nothing_stored: unacknowledgedNothing,
      half_written: 0,
      lost: 0,
    };
  }

  await using proxy = startTcpProxy(test.url);
  await using server = await startServer(
    serverEnv(proxy.url, { DB_STATEMENT_TIMEOUT_MS: String(statementTimeoutMs), DB_POOL_SIZE: "4" }),
  );

  /** A failed outcome with its times relative to `since` and the cause the server logged for it. */
  function describeFailure(o: Outcome, since: number) {
    const logged = server.output().split("\n").find((line) => o.requestId && line.includes(o.requestId));
    const cause = logged ? (JSON.parse(logged) as { error?: unknown }).error : undefined;
    return { status: o.status, sent_ms: o.sentAt - since, took_ms: o.receivedAt - o.sentAt, cause };
  }

  await step(
    "cut the database twice under load (refused, then silent): 200 or 503, bounded, nothing half written, back within 5 s",
    async () => {
      const run = load(() => server.baseUrl, key.key, "cut");
      const faults: Record<string, unknown>[] = [];
      const t0 = Date.now();
      await sleep(1500);
      for (const mode of ["refuse", "blackhole"] as const) {
        const cutAt = Date.now();
        proxy.set(mode);
        // Longer than a statement's deadline: a statement sent into the silence is answered 503 during it.
        await sleep(deadlineMs + 500);
        const restoredAt = Date.now();
        proxy.set("forward");
        // Recovered: the first request sent after the restore that got a 200.
        let recoveredAt: number | null = null;
        while (Date.now() - restoredAt < recoveryBoundMs + 2000 && recoveredAt === null) {
          await sleep(50);
          recoveredAt = run.outcomes.filter((o) => o.status === 200 && o.sentAt >= restoredAt)
            .reduce<number | null>((min, o) => (min === null || o.receivedAt < min ? o.receivedAt : min), null);
        }
        await sleep(recoveryBoundMs - Math.min(recoveryBoundMs, Date.now() - restoredAt) + 500);
        faults.push({ mode, cut_ms: restoredAt - cutAt, cutAt, restoredAt, recoveredAt });
      }
      await run.stop();
      const outcomes = run.outcomes;
      // What happened when, in 500 ms slices of the send time (kept in the figures, also of a failing run).
      const timeline: Record<string, Record<string, number>> = {};
      for (const o of outcomes) {
        const slice = String(Math.floor((o.sentAt - t0) / 500) * 500);
        (timeline[slice] ??= {})[o.status] = (timeline[slice]?.[o.status] ?? 0) + 1;
      }
      figures.database_cut_timeline = {
        events: faults.map((f) => ({
          mode: f.mode,
          cut_at_ms: (f.cutAt as number) - t0,
          restored_at_ms: (f.restoredAt as number) - t0,
        })),
        by_send_time_ms: timeline,
      };

      const wrong = outcomes.filter((o) =>
        o.problems.length > 0 || (o.status !== 200 && o.status !== 503) ||
        (o.status === 503 && o.retryAfter !== "5") || o.receivedAt - o.sentAt > answerBoundMs
      );
      assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} answers were not a bounded 200 or 503 with Retry-After`);
      for (const f of faults) {
        const restoredAt = f.restoredAt as number;
        assert.ok(f.recoveredAt !== null, `${f.mode}: no 200 after the database returned`);
        const recoveryMs = (f.recoveredAt as number) - restoredAt;
        assert.ok(recoveryMs <= recoveryBoundMs, `${f.mode}: recovered after ${recoveryMs} ms`);
        // Recovered for good: nothing sent 5 s after the restore failed.
        const lateFailures = outcomes.filter((o) =>
          o.sentAt >= restoredAt + recoveryBoundMs && o.status !== 200 &&
          o.receivedAt < restoredAt + recoveryBoundMs + 3000
        );
        assert.deepEqual(
          lateFailures.map((o) => describeFailure(o, restoredAt)),
          [],
          `${f.mode}: failures 5 s after the restore`,
        );
        f.recovery_ms = recoveryMs;
        f.answers_during_cut = tally(
          outcomes.filter((o) => o.sentAt >= (f.cutAt as number) && o.sentAt < restoredAt).map((o) => o.status),
        );
        // The cut did cut: a request in flight during it was answered 503. (A silent database can
        // hold every connection of the load until the restore, so that none is sent during it.)
        const cutShort = outcomes.filter((o) =>
          o.status === 503 && o.sentAt < restoredAt && o.receivedAt > (f.cutAt as number)
        );
        assert.ok(cutShort.length > 0, `${f.mode}: no request in flight during the cut was answered 503`);
      }
      const batches = await checkBatches("cut", outcomes);
      figures.database_cut = {
        concurrent_workers: workers,
        batch_size: batchSize,
        duration_ms: Date.now() - t0,
        requests: outcomes.length,
        statuses: tally(outcomes.map((o) => o.status)),
        slowest_answer_ms: Math.max(...outcomes.map((o) => o.receivedAt - o.sentAt)),
        answer_bound_ms: answerBoundMs,
        faults: faults.map(({ mode, cut_ms, recovery_ms, answers_during_cut }) => ({
          mode,
          cut_ms,
          recovery_ms,
          answers_during_cut,
        })),
        ...batches,
      };
    },
  );

  await step("the same process served on after the faults: no restart happened", () => {
    assert.match(server.output(), /"pid":\d+/);
    const starts = server.output().split("\n").filter((l) => l.includes('"message":"serving'));
    assert.equal(starts.length, 1);
  });

  await step("kill -9 under load: every acknowledged batch is stored in full, the rest all or nothing", async () => {
    await using victim = await startServer(serverEnv(test.url));
    assert.ok(victim.pid, "the server printed its pid");
    const run = load(() => victim.baseUrl, key.key, "kill");
    await sleep(2000);
    const killedAt = Date.now();
    Deno.kill(victim.pid!, "SIGKILL");
    await victim.exited;
    await run.stop();
    // Postgres rolls back what the dead process's connections had open once it sees them gone.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const [row] = await test.db.query<{ n: string }>(
        "select count(*) as n from pg_stat_activity where datname = current_database() and application_name = 'salesos-integration' and pid <> pg_backend_pid() and state <> 'idle'",
      );
      if (Number(row.n) === 0) break;
      await sleep(100);
    }
    const outcomes = run.outcomes;
    const afterKill = outcomes.filter((o) => o.receivedAt > killedAt + 100);
    assert.ok(afterKill.every((o) => o.status === "network error"), "answers from a dead process");
    const batches = await checkBatches("kill", outcomes);
    assert.ok(batches.acknowledged > 0, "nothing was acknowledged before the kill: no load");

    // The client's retry after a crash is safe: replay everything not acknowledged on a new process.
    await using revived = await startServer(serverEnv(test.url));
    const pending = outcomes.filter((o) => o.status !== 200);
    let replayedProcessed = 0;
    let replayedDuplicates = 0;
    for (const o of pending) {
      const res = await postJson(revived.baseUrl, "default-integration", key.key, batchBody("kill", o.batch));
      assert.equal(res.status, 200);
      replayedProcessed += res.json.data.processed;
      replayedDuplicates += res.json.data.duplicates;
    }
    const stored = await storedPerBatch("kill");
    const total = [...stored.values()].reduce((n, c) => n + c, 0);
    assert.equal(total, outcomes.length * batchSize);
    assert.ok([...stored.values()].every((n) => n === batchSize));
    figures.kill_9 = {
      concurrent_workers: workers,
      load_before_kill_ms: 2000,
      requests: outcomes.length,
      statuses: tally(outcomes.map((o) => o.status)),
      ...batches,
      replayed_batches: pending.length,
      replay_processed: replayedProcessed,
      replay_duplicates: replayedDuplicates,
      stored_after_replay: total,
    };
  });
}, { sanitizeOps: false, sanitizeResources: false });
