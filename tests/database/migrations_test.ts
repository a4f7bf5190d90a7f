// The migrations runner of the local server and the CLIs (tools/database.ts), on real Postgres.
import assert from "node:assert/strict";
import { applyMigrations } from "../../tools/database.ts";
import { freshDatabase } from "../support/database.ts";

Deno.test("migrations: applied once, in order; one older than the newest applied is refused", async () => {
  await using test = await freshDatabase(); // migrated already
  assert.deepEqual(await applyMigrations(test.db), [], "nothing pending");

  // As if an earlier-dated migration arrived after later ones were applied (e.g. from a merge).
  const [{ version }] = await test.db.query<{ version: string }>(
    "delete from supabase_migrations.schema_migrations where version = (select min(version) from supabase_migrations.schema_migrations) returning version",
  );
  await assert.rejects(applyMigrations(test.db), (error: Error) => {
    assert.match(error.message, new RegExp(`^migration ${version}_\\S+ is older than \\d+, already applied`));
    return true;
  });
});
