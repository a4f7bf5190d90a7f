// `deno task sync` as an integrator runs it, against the real service on a fresh database:
// generated files spanning many batches (CSV and JSONL), the summary line and exit codes, rejected
// rows, a checkpoint surviving SIGKILL, a rate limit that stops the run, usage errors, the progress
// display on a terminal and elsewhere; and a 1,000,000-row file in bounded memory.
import assert from "node:assert/strict";
import { startService } from "../support/client_service.ts";
import {
  exists,
  hasScript,
  readJsonl,
  spawnSync,
  sync,
  syncOnTerminal,
  waitForCheckpoint,
} from "../support/sync_cli.ts";

/** Writes `count` lines made by `line(i)` in blocks, never the whole file in memory. */
async function writeLines(path: string, count: number, line: (i: number) => string, header?: string) {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  if (header) await file.write(encoder.encode(`${header}\n`));
  for (let start = 0; start < count; start += 10_000) {
    let block = "";
    for (let i = start; i < Math.min(count, start + 10_000); i++) block += `${line(i)}\n`;
    const bytes = encoder.encode(block);
    let written = 0;
    while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
  }
}

const activity = (i: number, emails: number) =>
  JSON.stringify({ activity_code: "001", external_id: `act-${i}`, collaborator_email: `rep${i % emails}@example.com` });

Deno.test("deno task sync against the running service", async (t) => {
  await using service = await startService();
  const dir = await Deno.makeTempDir({ prefix: "salesos-sync-" });
  const count = async (sql: string, params: unknown[]) =>
    (await service.query<{ n: string }>(sql, params)).map((r) => Number(r.n));
  try {
    const { key, tenantId } = await service.key();
    const people = `${dir}/people.csv`;
    await writeLines(people, 200, (i) => `rep-${i},Rep ${i},rep${i}@example.com`, "external_id,name,email");

    await t.step(
      "collaborators CSV, then 25,000 activities JSONL in 25 batches: exit 0, one summary line",
      async () => {
        const first = await sync(["collaborators", people, "--url", service.baseUrl], key);
        assert.equal(first.code, 0, first.stderr);
        assert.deepEqual(
          { ...first.summary, duration_ms: undefined },
          {
            action: "sync_collaborators",
            file: people,
            status: "completed",
            rows: 200,
            rejected: 0,
            batches: 1,
            created: 200,
            existing: 0,
            resumed_after_row: 0,
            rejected_file: null,
            duration_ms: undefined,
          },
        );

        const calls = `${dir}/calls.jsonl`;
        await writeLines(calls, 25_000, (i) => activity(i, 200));
        const second = await sync(["activities", calls, "--url", service.baseUrl], key);
        assert.equal(second.code, 0, second.stderr);
        assert.equal(second.lines.length, 1, second.stdout);
        assert.deepEqual(
          [
            second.summary!.status,
            second.summary!.rows,
            second.summary!.batches,
            second.summary!.processed,
            second.summary!.rejected,
          ],
          ["completed", 25_000, 25, 25_000, 0],
        );
        assert.match(
          second.stderr,
          /sync activities: 100% 25,000 rows, 0 rejected/,
          "a plain progress line, not a bar",
        );
        assert.doesNotMatch(second.stderr, /\r/);
        assert.deepEqual(await count("select count(*) as n from salesos.activities where tenant_id = $1", [tenantId]), [
          25_000,
        ]);
        assert.equal(await exists(`${calls}.checkpoint.json`), false, "a finished run leaves no checkpoint");
        assert.equal(await exists(`${calls}.rejected.jsonl`), false);

        const again = await sync(["activities", calls, "--url", service.baseUrl], key);
        assert.deepEqual([again.code, again.summary!.processed, again.summary!.duplicates], [0, 0, 25_000]);
      },
    );

    await t.step(
      "CSV: quoted fields with commas, quotes and line breaks, CRLF, a BOM; empty cells are not given",
      async () => {
        const file = `${dir}/quoted.csv`;
        await Deno.writeTextFile(
          file,
          "\uFEFFexternal_id,name,email,team,metadata\r\n" +
            'q-1,"Santos, Maria","maria@quoted.example","Sales ""North""","{""region"":""Norte"",""note"":""a,b""}"\r\n' +
            'q-2,"Line\r\nbreak",joao@quoted.example,,\r\n' +
            "\r\n" +
            'q-3,Plain,ana@quoted.example,"",\r\n',
        );
        const result = await sync(["collaborators", file, "--url", service.baseUrl], key);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual([result.summary!.rows, result.summary!.created], [3, 3]);
        const rows = await service.query<Record<string, unknown>>(
          "select external_id, name, email, team, metadata from salesos.collaborators where tenant_id = $1 and email like '%@quoted.example' order by external_id",
          [tenantId],
        );
        assert.deepEqual([...rows], [
          {
            external_id: "q-1",
            name: "Santos, Maria",
            email: "maria@quoted.example",
            team: 'Sales "North"',
            metadata: { region: "Norte", note: "a,b" },
          },
          { external_id: "q-2", name: "Line\nbreak", email: "joao@quoted.example", team: null, metadata: null },
          { external_id: "q-3", name: "Plain", email: "ana@quoted.example", team: null, metadata: null },
        ]);
      },
    );

    await t.step("rejected rows go to <file>.rejected.jsonl with their reasons; exit 1", async () => {
      const file = `${dir}/mixed.csv`;
      await Deno.writeTextFile(
        file,
        "activity_code,external_id,collaborator_email,data\n" +
          "001,mixed-1,rep1@example.com,\n" +
          "1,mixed-2,rep2@example.com,\n" + // Excel ate the leading zeros
          "002,mixed-3,rep3@example.com,{not json}\n" +
          "003,mixed-4,rep4@example.com\n" +
          '004,mixed-5,not-an-email,"{""k"":1}"\n' +
          "005,mixed-6,nobody@example.com,\n",
      );
      const result = await sync(["activities", file, "--url", service.baseUrl], key);
      assert.equal(result.code, 1, result.stderr);
      assert.deepEqual(
        { ...result.summary, duration_ms: undefined },
        {
          action: "sync_activities",
          file,
          status: "completed_with_rejections",
          rows: 6,
          rejected: 4,
          batches: 1,
          processed: 1,
          skipped: 1,
          duplicates: 0,
          resumed_after_row: 0,
          rejected_file: `${file}.rejected.jsonl`,
          duration_ms: undefined,
        },
      );
      const rejected = (await readJsonl(`${file}.rejected.jsonl`)).sort((a, b) => a.row - b.row);
      assert.deepEqual(rejected, [
        {
          row: 2,
          line: 3,
          reason: 'Activity mixed-2 (rep2@example.com): activity_code: Required 3-digit string (001-999), e.g. "001"',
          details: [{ field: "activity_code", message: 'Required 3-digit string (001-999), e.g. "001"' }],
          input: { activity_code: "1", external_id: "mixed-2", collaborator_email: "rep2@example.com" },
        },
        {
          row: 3,
          line: 4,
          reason: "data: not JSON",
          input: {
            activity_code: "002",
            external_id: "mixed-3",
            collaborator_email: "rep3@example.com",
            data: "{not json}",
          },
        },
        { row: 4, line: 5, reason: "3 fields, the header has 4", input: ["003", "mixed-4", "rep4@example.com"] },
        {
          row: 5,
          line: 6,
          reason: "Activity mixed-5 (not-an-email): collaborator_email: Required valid email",
          details: [{ field: "collaborator_email", message: "Required valid email" }],
          input: { activity_code: "004", external_id: "mixed-5", collaborator_email: "not-an-email", data: { k: 1 } },
        },
      ]);

      const jsonl = `${dir}/people.jsonl`;
      await Deno.writeTextFile(
        jsonl,
        '{"external_id":"j-1","name":"J","email":"j1@example.com"}\n' +
          "{broken\n" +
          '{"external_id":"j-3","name":"J","email":"bad"}\n' +
          "[1,2]\n",
      );
      const people = await sync([
        "collaborators",
        jsonl,
        "--url",
        service.baseUrl,
        "--rejected",
        `${dir}/people-rejected.jsonl`,
      ], key);
      assert.equal(people.code, 1);
      assert.deepEqual([people.summary!.rows, people.summary!.created, people.summary!.rejected], [4, 1, 3]);
      const reasons = (await readJsonl(`${dir}/people-rejected.jsonl`)).map((r) => [r.row, r.reason]).sort();
      assert.deepEqual(reasons, [
        [2, reasons[0][1]],
        [3, "Collaborator j-3 (bad): email must be a valid email"],
        [4, "not a JSON object"],
      ]);
      assert.match(reasons[0][1], /^not JSON: /);
    });

    await t.step(
      "killed with SIGKILL mid-run, a rerun on the regenerated identical export resumes: every row stored once",
      async () => {
        const file = `${dir}/big.jsonl`;
        const invalidRows = [5, 20_000, 39_999]; // 1-based rows
        await writeLines(
          file,
          40_000,
          (
            i,
          ) => (invalidRows.includes(i + 1)
            ? `{"activity_code":"0","external_id":"big-${i}"}`
            : activity(i, 200).replace("act-", "big-")),
        );
        const child = spawnSync(["activities", file, "--url", service.baseUrl], { SALESOS_API_KEY: key });
        const checkpointPath = `${file}.checkpoint.json`;
        await waitForCheckpoint(checkpointPath, 10_000);
        child.kill("SIGKILL");
        const status = await child.status;
        await child.stdout.cancel();
        await child.stderr.cancel();
        assert.equal(status.signal, "SIGKILL");
        const stored = (await count(
          "select count(*) as n from salesos.activities where tenant_id = $1 and external_id like 'big-%'",
          [tenantId],
        ))[0];
        assert.ok(stored >= 9_999 && stored < 39_997, `${stored} stored before the kill`); // row 5 is invalid

        // The night's export is made again: the same content in a new file (a new mtime). It resumes.
        const content = await Deno.readFile(file);
        await Deno.remove(file);
        await Deno.writeFile(file, content);
        const later = new Date(Date.now() + 3_600_000);
        await Deno.utime(file, later, later);
        const resumed = await sync(["activities", file, "--url", service.baseUrl], key);
        assert.equal(resumed.code, 1, resumed.stderr); // the three invalid rows
        const summary = resumed.summary!;
        assert.ok(summary.resumed_after_row >= 10_000 && summary.resumed_after_row < 40_000);
        assert.match(resumed.stderr, /resuming after row \d+/);
        assert.deepEqual([summary.rows, summary.rejected, summary.skipped], [40_000, 3, 0]);
        // Batches answered after the last checkpoint are sent again: their rows count as duplicates.
        assert.equal(summary.processed + summary.duplicates, 39_997);
        assert.ok(summary.duplicates <= 1_000);
        const [total, distinct] = await count(
          "select count(*) as n from salesos.activities where tenant_id = $1 and external_id like 'big-%' union all " +
            "select count(distinct external_id) from salesos.activities where tenant_id = $1 and external_id like 'big-%'",
          [tenantId],
        );
        assert.deepEqual([total, distinct], [39_997, 39_997]);
        const rejected = await readJsonl(`${file}.rejected.jsonl`);
        assert.deepEqual(rejected.map((r) => r.row).sort((a, b) => a - b), invalidRows, "each rejected row once");
        assert.equal(await exists(checkpointPath), false);
      },
    );

    await t.step(
      "killed with SIGKILL mid-run, a rerun on a changed export starts over by itself (exit 0, never 2)",
      async () => {
        const file = `${dir}/changed.jsonl`;
        await writeLines(file, 6_000, (i) => activity(i, 200).replace("act-", "chg-"));
        const child = spawnSync(["activities", file, "--url", service.baseUrl], { SALESOS_API_KEY: key });
        await waitForCheckpoint(`${file}.checkpoint.json`, 1_000);
        child.kill("SIGKILL");
        await child.status;
        await child.stdout.cancel();
        await child.stderr.cancel();

        // Tonight's export has one more activity: another file, whatever its name.
        await writeLines(file, 6_001, (i) => activity(i, 200).replace("act-", "chg-"));
        const rerun = await sync(["activities", file, "--url", service.baseUrl], key);
        assert.equal(rerun.code, 0, rerun.stderr);
        assert.match(
          rerun.stderr,
          /is of another file content, action or --rejected path: starting from the first row/,
        );
        assert.deepEqual(
          [rerun.summary!.resumed_after_row, rerun.summary!.rows, rerun.summary!.processed + rerun.summary!.duplicates],
          [0, 6_001, 6_001],
        );
        assert.deepEqual(
          await count(
            "select count(*) as n from salesos.activities where tenant_id = $1 and external_id like 'chg-%'",
            [tenantId],
          ),
          [6_001],
        );
      },
    );

    await t.step(
      "a rate limit beyond --max-retry-after stops the run (exit 3); a rerun resumes after the limit is raised",
      async () => {
        const limited = await service.key({ rate_limit_per_hour: 4 });
        const file = `${dir}/limited.csv`;
        await writeLines(file, 10, (i) => `lim-${i},Lim ${i},lim${i}@example.com`, "external_id,name,email");
        assert.equal((await sync(["collaborators", file, "--url", service.baseUrl], limited.key)).code, 0);
        const calls = `${dir}/limited.jsonl`;
        await writeLines(calls, 5_500, (i) => activity(i, 10).replace("rep", "lim").replace("act-", "lim-"));

        const stopped = await sync(
          ["activities", calls, "--url", service.baseUrl, "--max-retry-after", "5"],
          limited.key,
        );
        assert.equal(stopped.code, 3, stopped.stderr);
        assert.deepEqual(
          [stopped.summary!.status, stopped.summary!.rows, stopped.summary!.processed, stopped.summary!.error.code],
          ["stopped", 3_000, 3_000, "RATE_LIMITED"],
        );
        assert.ok(stopped.summary!.error.retry_after > 5);
        assert.equal(stopped.summary!.checkpoint, `${calls}.checkpoint.json`);
        assert.equal(JSON.parse(await Deno.readTextFile(`${calls}.checkpoint.json`)).rows_done, 3_000);

        await service.query("update salesos.api_keys set rate_limit_per_hour = 100 where id = $1", [limited.id]);
        const resumed = await sync(["activities", calls, "--url", service.baseUrl], limited.key);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.deepEqual(
          [
            resumed.summary!.resumed_after_row,
            resumed.summary!.rows,
            resumed.summary!.processed,
            resumed.summary!.batches,
          ],
          [3_000, 5_500, 5_500, 6],
        );
      },
    );

    await t.step(
      "a signed key with SALESOS_API_SECRET: every batch signed, exit 0; a wrong secret is refused (exit 3)",
      async () => {
        const signed = await service.key({ auth_scheme: "signed" });
        const file = `${dir}/signed.csv`;
        await writeLines(file, 1_200, (i) => `sig-${i},Sig ${i},sig${i}@example.com`, "external_id,name,email");
        const done = await sync(["collaborators", file, "--url", service.baseUrl], signed.key, signed.secret);
        assert.equal(done.code, 0, done.stderr);
        assert.deepEqual([done.summary!.status, done.summary!.batches, done.summary!.created], ["completed", 3, 1_200]);
        assert.deepEqual(
          await count("select count(*) as n from salesos.collaborators where tenant_id = $1", [signed.tenantId]),
          [1_200],
        );

        const wrong = await sync(["collaborators", file, "--url", service.baseUrl], signed.key, "0".repeat(64));
        assert.equal(wrong.code, 3, wrong.stderr);
        assert.deepEqual(
          [wrong.summary!.status, wrong.summary!.error.code, wrong.summary!.error.message],
          ["stopped", "UNAUTHORIZED", "Invalid request signature"],
        );
        const unsigned = await sync(["collaborators", file, "--url", service.baseUrl], signed.key);
        assert.equal(unsigned.code, 3, unsigned.stderr);
        assert.equal(unsigned.summary!.error.message, "This API key requires signed requests (P2S-SIGN-V1)");
        assert.ok(!`${wrong.stdout}${wrong.stderr}${done.stdout}${done.stderr}`.includes(signed.secret!));
      },
    );

    await t.step("usage and configuration errors: exit 2, a message, nothing sent", async () => {
      const calls = `${dir}/usage.jsonl`;
      await writeLines(calls, 10, (i) => activity(i, 200));
      const cases: [string[], string | undefined, RegExp][] = [
        [["activities", calls, "--url", service.baseUrl], undefined, /SALESOS_API_KEY is not set/],
        [["activities", calls, "--url", service.baseUrl], "my-key", /SALESOS_API_KEY is not an API key/],
        [["leads", calls, "--url", service.baseUrl], key, /usage:/],
        [["activities", calls], key, /--url must be an http\(s\) URL/],
        [["activities", calls, "--url", "http://exa mple.com"], key, /--url must be an http\(s\) URL/],
        [["activities", `${dir}/calls.txt`, "--url", service.baseUrl], key, /must end in \.csv, \.jsonl or \.ndjson/],
        [["activities", `${dir}/missing.jsonl`, "--url", service.baseUrl], key, /missing\.jsonl/],
        [["collaborators", people.replace("people", "nothing"), "--url", service.baseUrl], key, /nothing\.csv/],
      ];
      await Deno.writeTextFile(`${dir}/bad-header.csv`, "external_id,name,emial\nx,y,z\n");
      cases.push([
        ["collaborators", `${dir}/bad-header.csv`, "--url", service.baseUrl],
        key,
        /unknown columns: emial; missing columns: email/,
      ]);
      const logged = () => count("select count(*) as n from salesos.request_log where tenant_id = $1", [tenantId]);
      const loggedBefore = await logged();
      for (const [args, apiKey, message] of cases) {
        const result = await sync(args, apiKey);
        assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, message);
        assert.equal(result.stdout, "");
        if (apiKey && apiKey !== "my-key") {
          assert.equal(result.stderr.includes(apiKey), false, "the key is never printed");
        }
      }
      assert.deepEqual(await logged(), loggedBefore, "no request reached the service");

      // A rejected-rows file that cannot be written stops the run (3) with its summary line.
      const mixed = `${dir}/mixed.csv`;
      await Deno.writeTextFile(mixed, "external_id,name,email\nok-1,Ok,ok1@example.com\nbad-1,Bad,not-an-email\n");
      const unwritable = await sync(
        ["collaborators", mixed, "--url", service.baseUrl, "--rejected", `${dir}/no-such-dir/rejected.jsonl`],
        key,
      );
      assert.equal(unwritable.code, 3, unwritable.stderr);
      const stopped = JSON.parse(unwritable.stdout);
      assert.deepEqual([stopped.status, stopped.error.code], ["stopped", "LOCAL_ERROR"]);
      assert.doesNotMatch(unwritable.stderr, /\bat \S+ \(/, "no stack trace");

      // A file given as UTF-8 that is not stops the run at the line of the first invalid byte, with a summary.
      const latin1 = `${dir}/latin1.csv`;
      await Deno.writeFile(
        latin1,
        new Uint8Array([...new TextEncoder().encode("external_id,name,email\nl-1,Jos"), 0xe9, 0x0a]),
      );
      const unreadable = await sync(["collaborators", latin1, "--url", service.baseUrl, "--encoding", "utf-8"], key);
      assert.equal(unreadable.code, 2);
      assert.deepEqual([unreadable.summary!.status, unreadable.summary!.error.code], ["stopped", "INPUT_ERROR"]);
      assert.match(unreadable.summary!.error.message, /^line 2: a byte that is not UTF-8/);

      // A checkpoint left by a run on another content of the file is not resumed from, nor in the way:
      // the run starts over by itself (an unattended cron job is never stuck on it).
      await Deno.writeTextFile(
        `${calls}.checkpoint.json`,
        JSON.stringify({
          version: 2,
          action: "sync_activities",
          input: { sha256: "0".repeat(64), size: 1 },
          rows_done: 5,
          rejected_file: `${calls}.rejected.jsonl`,
          rejected_bytes: 0,
          counts: {},
          updated_at: new Date().toISOString(),
        }),
      );
      const stale = await sync(["activities", calls, "--url", service.baseUrl], key);
      assert.deepEqual([stale.code, stale.summary!.rows, stale.summary!.resumed_after_row], [0, 10, 0], stale.stderr);
      assert.match(
        stale.stderr,
        /checkpoint\.json is of another file content, action or --rejected path: starting from the first row/,
      );
    });

    await t.step({
      name: "on a terminal: a progress bar redrawn in place",
      ignore: !(await hasScript()),
      fn: async () => {
        const calls = `${dir}/tty.jsonl`;
        await writeLines(calls, 3_000, (i) => activity(i, 200).replace("act-", "tty-"));
        const { code, text } = await syncOnTerminal(["activities", calls, "--url", service.baseUrl], {
          SALESOS_API_KEY: key,
        });
        assert.equal(code, 0, text);
        assert.ok(text.includes("\r\u001b[2Ksync activities ["), "the bar is redrawn in place");
        assert.match(text, /sync activities \[#+\] 100% 3,000 rows, 0 rejected/);
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Peak resident memory (VmHWM) of a running process, in MiB; null once it has exited. */
async function peakMemoryMiB(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) / 1024;
  } catch {
    return null;
  }
}

// A 1,000,000-row run against the real service takes minutes; what this proves is the CLI's
// memory, so the service is a stub that answers at once (correctness against the real service
// is the test above). The CLI runs with a JavaScript heap far smaller than the file: holding the
// file, or anything that grows with it, would end in an out-of-memory crash. Its peak resident
// memory (VmHWM: the heap, the runtime and native buffers) is checked too: about 110 MiB of runtime
// and buffers, plus the duplicate check's typed arrays outside the heap (12 bytes a slot, 2²¹ slots
// for a million external_ids, and the old table while it doubles: under 40 MiB).
Deno.test("a 1,000,000-row CSV (160 MiB) streams through in bounded memory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "salesos-sync-big-" });
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const { activities } = await request.json();
    requests++;
    return Response.json({
      data: { processed: activities.length, skipped: 0, duplicates: 0, errors: [], total: activities.length },
      meta: { request_id: crypto.randomUUID(), timestamp: new Date().toISOString() },
    });
  });
  try {
    const file = `${dir}/million.csv`;
    const note = "n".repeat(80);
    await writeLines(
      file,
      1_000_000,
      (i) => `001,m-${i},rep${i % 500}@example.com,"{""n"":${i},""note"":""${note}""}",2026-03-17T09:15:00-03:00`,
      "activity_code,external_id,collaborator_email,data,occurred_at",
    );
    const fileMiB = (await Deno.stat(file)).size / 1024 / 1024;

    const heapMiB = 40;
    const child = spawnSync(
      ["activities", file, "--url", `http://127.0.0.1:${server.addr.port}`],
      { SALESOS_API_KEY: `sk_test_${"a".repeat(32)}` },
      [`--v8-flags=--max-old-space-size=${heapMiB},--max-semi-space-size=8`],
    );
    let peak = 0;
    const sampling = (async () => {
      for (let sample = await peakMemoryMiB(child.pid); sample !== null; sample = await peakMemoryMiB(child.pid)) {
        peak = Math.max(peak, sample);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const output = await child.output();
    await sampling;
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const summary = JSON.parse(new TextDecoder().decode(output.stdout));
    assert.deepEqual([summary.rows, summary.processed, summary.batches, requests], [
      1_000_000,
      1_000_000,
      1_000,
      1_000,
    ]);
    console.log(
      `file ${fileMiB.toFixed(0)} MiB; CLI heap limit ${heapMiB} MiB; its peak resident memory ${peak.toFixed(0)} MiB`,
    );
    assert.ok(fileMiB > 150, `the file is ${fileMiB} MiB`);
    assert.ok(peak > 0 && peak < 192, `peak resident memory ${peak} MiB`);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
