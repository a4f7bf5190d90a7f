// `deno task sync` while the service makes it wait or the operator stops it: a live countdown on a
// 429 (each second on a terminal, a line every ~10 s elsewhere), one Idempotency-Key per batch sent
// again on its retries, and Ctrl-C (SIGINT) saying that a rerun resumes. The service here is a
// small local HTTP server that answers as the test needs (429, 503, held) and records the headers.
import assert from "node:assert/strict";
import { uuidV4 } from "../support/patterns.ts";
import { hasScript, spawnSync, sync, syncOnTerminal, waitForCheckpoint } from "../support/sync_cli.ts";

const apiKey = `sk_test_${"a".repeat(32)}`;

interface Seen {
  idempotencyKey: string | null;
  first: string;
  size: number;
}

/** A stand-in for default-integration: `answer(n)` (n from 1) says how to answer the nth request. */
function stubService(answer: (n: number) => "ok" | "hold" | { status: number; retryAfter: number }) {
  const seen: Seen[] = [];
  const held: (() => void)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const { activities } = await request.json();
    seen.push({
      idempotencyKey: request.headers.get("idempotency-key"),
      first: activities[0].external_id,
      size: activities.length,
    });
    const meta = { request_id: crypto.randomUUID(), timestamp: new Date().toISOString() };
    const how = answer(seen.length);
    if (how === "hold") await new Promise<void>((resolve) => held.push(resolve));
    if (how === "ok" || how === "hold") {
      const total = activities.length;
      return Response.json({ data: { processed: total, skipped: 0, duplicates: 0, errors: [], total }, meta });
    }
    const code = how.status === 429 ? "RATE_LIMITED" : "SERVICE_UNAVAILABLE";
    return Response.json(
      { error: { code, message: "wait", details: [], retry_after: how.retryAfter }, meta },
      { status: how.status, headers: { "Retry-After": String(how.retryAfter) } },
    );
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    async [Symbol.asyncDispose]() {
      for (const release of held) release();
      await server.shutdown();
    },
  };
}

async function activitiesFile(dir: string, name: string, count: number) {
  const path = `${dir}/${name}`;
  const lines = Array.from(
    { length: count },
    (_, i) => JSON.stringify({ activity_code: "001", external_id: `r-${i}`, collaborator_email: "a@example.com" }),
  );
  await Deno.writeTextFile(path, `${lines.join("\n")}\n`);
  return path;
}

Deno.test("a 429 counts down (a line every ~10 s off a terminal); a batch's retries reuse its Idempotency-Key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "salesos-sync-retries-" });
  // Batch 1: 429 (wait 12 s), then 503, then stored; batch 2: stored at once.
  await using service = stubService((n) =>
    n === 1 ? { status: 429, retryAfter: 12 } : n === 2 ? { status: 503, retryAfter: 0 } : "ok"
  );
  try {
    const file = await activitiesFile(dir, "calls.jsonl", 1_500);
    const result = await sync(["activities", file, "--url", service.url], apiKey);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual([result.summary!.rows, result.summary!.processed, result.summary!.batches], [1_500, 1_500, 2]);

    const lines = result.stderr.split("\n");
    const first = lines.indexOf("sync activities: HTTP 429 RATE_LIMITED: retrying in 12.0 s");
    assert.ok(first !== -1, result.stderr);
    // The wait is 12 s: one more line about 10 s in, with what is left (1 to 3 s), before the 503's.
    const countdown = lines.slice(first + 1).filter((l) =>
      /^sync activities: HTTP 429 RATE_LIMITED: retrying in \d+ s$/.test(l)
    );
    assert.equal(countdown.length, 1, result.stderr);
    assert.match(countdown[0], /retrying in [1-3] s$/);
    assert.ok(lines.some((l) => /^sync activities: HTTP 503 SERVICE_UNAVAILABLE: retrying in \d+\.\d s$/.test(l)));
    assert.doesNotMatch(result.stderr, /\r/, "no terminal control off a terminal");

    assert.deepEqual(service.seen.map((s) => [s.first, s.size]), [["r-0", 1000], ["r-0", 1000], ["r-0", 1000], [
      "r-1000",
      500,
    ]]);
    const keys = service.seen.map((s) => s.idempotencyKey);
    assert.ok(keys.every((k) => uuidV4.test(k ?? "")), `${keys}`);
    assert.equal(keys[1], keys[0], "the 429's retry has the batch's key");
    assert.equal(keys[2], keys[0], "the 503's retry too");
    assert.notEqual(keys[3], keys[0], "the next batch has its own");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "on a terminal, a 429's wait counts down in place each second",
  ignore: !(await hasScript()),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "salesos-sync-retries-" });
    await using service = stubService((n) => (n === 1 ? { status: 429, retryAfter: 6 } : "ok"));
    try {
      const file = await activitiesFile(dir, "calls.jsonl", 10);
      const { code, text } = await syncOnTerminal(["activities", file, "--url", service.url], {
        SALESOS_API_KEY: apiKey,
      });
      assert.equal(code, 0, text);
      assert.match(text, /sync activities: HTTP 429 RATE_LIMITED: retrying in 6.0 s\r?\n/);
      // The escape that erases the terminal line is what is checked.
      // deno-lint-ignore no-control-regex
      const redrawn = [...text.matchAll(/\r\x1b\[2Ksync activities: HTTP 429 RATE_LIMITED: retrying in (\d) s/g)]
        .map((m) => Number(m[1]));
      // Six seconds of waiting, redrawn every second: at least four of 5, 4, 3, 2, 1, each lower than the last.
      assert.ok(redrawn.length >= 4, text);
      assert.ok(redrawn.every((left, i) => i === 0 || left < redrawn[i - 1]), `${redrawn}`);
      assert.equal(service.seen[1].idempotencyKey, service.seen[0].idempotencyKey);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("Ctrl-C (SIGINT) says a rerun resumes, keeps the checkpoint, and the rerun does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "salesos-sync-sigint-" });
  let holding = true;
  // The first batch is answered; the second is held until the CLI was interrupted.
  await using service = stubService((n) => (n === 2 && holding ? "hold" : "ok"));
  try {
    const file = await activitiesFile(dir, "calls.jsonl", 3_000);
    const child = spawnSync(["activities", file, "--url", service.url], { SALESOS_API_KEY: apiKey });
    await waitForCheckpoint(`${file}.checkpoint.json`, 1_000);
    while (service.seen.length < 2) await new Promise((r) => setTimeout(r, 10));
    child.kill("SIGINT");
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 130, stderr);
    assert.match(
      stderr,
      new RegExp(
        `sync activities: interrupted: run the same command again to resume after row 1000 \\(${file}\\.checkpoint\\.json\\)`,
      ),
    );
    const summary = JSON.parse(new TextDecoder().decode(output.stdout));
    assert.deepEqual([summary.status, summary.rows, summary.processed, summary.checkpoint], [
      "interrupted",
      1_000,
      1_000,
      `${file}.checkpoint.json`,
    ]);

    holding = false;
    const rerun = await sync(["activities", file, "--url", service.url], apiKey);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual([rerun.summary!.resumed_after_row, rerun.summary!.rows, rerun.summary!.processed], [
      1_000,
      3_000,
      3_000,
    ]);
    assert.deepEqual(service.seen.slice(2).map((s) => s.first), ["r-1000", "r-2000"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
