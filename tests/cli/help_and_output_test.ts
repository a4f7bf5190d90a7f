// What a first-time user types: `--help` on every CLI, and the output modes that print only the
// secret, for a shell variable, with nothing on stdout when the command fails.
import assert from "node:assert/strict";
import { freshDatabase, serverUrl } from "../support/database.ts";
import { runTask, serverEnv } from "../support/server.ts";

Deno.test("every CLI answers --help and -h with its usage on stdout and exit 0", async () => {
  // No database is needed (nor touched) to print the usage.
  const env = serverEnv("postgres://nobody@127.0.0.1:1/none", { PORT: "0" });
  for (const task of ["start", "keys", "token", "tenants", "sync", "db:diff"]) {
    for (const flag of ["--help", "-h"]) {
      const result = await runTask(task, [flag], env);
      assert.equal(result.code, 0, `${task} ${flag}: ${result.stderr}`);
      assert.match(
        result.stdout,
        new RegExp(`usage:\\s+deno task ${task}`),
        `${task} ${flag}`,
      );
      assert.equal(result.stderr, "", `${task} ${flag}`);
    }
  }
});

Deno.test("keys create --output key and token --output token print the secret alone", async (t) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);

  await t.step(
    "keys create --output key: the plaintext key and a newline, nothing else",
    async () => {
      const created = await runTask(
        "keys",
        [
          "create",
          "--tenant",
          "acme",
          "--name",
          "CRM sync",
          "--scopes",
          "default:sync",
          "--output",
          "key",
        ],
        env,
      );
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout, /^sk_live_[a-z0-9]{32}\n$/);
    },
  );

  await t.step(
    "a create that fails prints nothing on stdout and exits non-zero",
    async () => {
      const refused = await runTask(
        "keys",
        [
          "create",
          "--tenant",
          "acme",
          "--name",
          "x",
          "--rate-limit",
          "0",
          "--output",
          "key",
        ],
        env,
      );
      assert.notEqual(refused.code, 0);
      assert.equal(refused.stdout, "");
      const unreachable = await runTask(
        "keys",
        ["create", "--tenant", "acme", "--name", "x", "--output", "key"],
        serverEnv(new URL("/salesos_no_such_database", serverUrl).toString()),
      );
      assert.notEqual(unreachable.code, 0);
      assert.equal(unreachable.stdout, "");
    },
  );

  await t.step(
    "--output is json (the default) or key, and key only with create",
    async () => {
      for (
        const args of [["list", "--tenant", "acme", "--output", "key"], [
          "list",
          "--tenant",
          "acme",
          "--output",
          "x",
        ]]
      ) {
        const result = await runTask("keys", args, env);
        assert.deepEqual([result.code, result.stdout], [2, ""], args.join(" "));
        assert.match(result.stderr, /--output/);
      }
    },
  );

  await t.step("token --output token: the JWT alone", async () => {
    const minted = await runTask("token", [
      "--tenant",
      "acme",
      "--output",
      "token",
    ], env);
    assert.equal(minted.code, 0, minted.stderr);
    assert.match(minted.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const bad = await runTask(
      "token",
      ["--tenant", "acme", "--output", "key"],
      env,
    );
    assert.deepEqual([bad.code, bad.stdout], [2, ""]);
  });
});
