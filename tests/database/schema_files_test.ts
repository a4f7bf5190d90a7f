// The schema files (supabase/schemas, applied in file-name order) define the same database as the
// migrations (supabase/migrations, applied in version order): two fresh databases, one built each
// way, must have the same catalog, fact by fact. A difference fails the test with a readable diff
// ("-" the migrations, "+" the schema files).
import assert from "node:assert/strict";
import { connectPostgres } from "../../supabase/functions/_shared/postgres.ts";
import { applyMigrations, createEmptyDatabase } from "../../tools/database.ts";
import { applySchemaFiles, catalogDiff, catalogOf } from "../../tools/schema_diff.ts";
import { serverUrl, testConfig } from "../support/database.ts";

Deno.test("schema files: they define exactly the database the migrations produce", async ({ step }) => {
  const migrated = await createEmptyDatabase(serverUrl, "salesos_test_migrations");
  const declared = await createEmptyDatabase(serverUrl, "salesos_test_schemas");
  try {
    await step("the migrations apply, in version order, to one fresh database", async () => {
      const db = connectPostgres(migrated.url, { ...testConfig, dbPoolSize: 1 });
      try {
        assert.ok((await applyMigrations(db)).length > 0);
      } finally {
        await db.close();
      }
    });

    await step("the schema files apply, in file-name order, to another", async () => {
      const applied = await applySchemaFiles(declared.url);
      assert.ok(applied.length > 0, "supabase/schemas holds .sql files");
    });

    await step("config.toml points the Supabase CLI at the schema files", async () => {
      const config = await Deno.readTextFile(new URL("../../supabase/config.toml", import.meta.url));
      const section = config.split(/\n(?=\[)/).find((s) => s.startsWith("[db.migrations]\n")) ?? "";
      assert.match(section, /^enabled = true$/m);
      assert.match(section, /^schema_paths = \["\.\/schemas\/\*\.sql"\]$/m);
    });

    await step(
      "both have the same catalog: schemas, tables, columns, constraints, indexes, functions, triggers, policies, privileges, RLS, comments",
      async () => {
        const [fromMigrations, fromSchemaFiles] = await Promise.all([catalogOf(migrated.url), catalogOf(declared.url)]);
        // Not vacuous: the salesos objects are there.
        const count = (kind: string) =>
          [...fromMigrations.keys()].filter((k) => k.startsWith(`${kind} salesos.`)).length;
        assert.ok(
          count("relation") >= 7 && count("function") >= 20 && count("column") >= 50,
          "the catalog holds salesos",
        );
        const diff = catalogDiff(fromMigrations, fromSchemaFiles);
        if (diff.length > 0) {
          assert.fail(
            `the schema files and the migrations define different databases ("-" migrations, "+" schema files):\n` +
              diff.join("\n"),
          );
        }
      },
    );

    await step(
      "the request log's day partitions, which depend on the day they were made, are not compared",
      async () => {
        // As when the two builds straddle midnight (UTC): one of them has a day the other has not.
        const db = connectPostgres(declared.url, { ...testConfig, dbPoolSize: 1 });
        try {
          await db.query("select salesos.create_request_log_partition('2001-01-01')");
        } finally {
          await db.close();
        }
        const [fromMigrations, fromSchemaFiles] = await Promise.all([catalogOf(migrated.url), catalogOf(declared.url)]);
        assert.deepEqual(catalogDiff(fromMigrations, fromSchemaFiles), []);
      },
    );
  } finally {
    await Promise.all([migrated.drop(), declared.drop()]);
  }
});
