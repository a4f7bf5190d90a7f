// The bcrypt worker pool warmed ahead of its first job (as `deno task start` does once listening):
// the jobs are answered as by a cold pool, and a second warm starts no other worker.
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { createBcryptPool } from "../../supabase/functions/_shared/bcrypt_pool.ts";

Deno.test("a warmed bcrypt pool answers its compares and hashes", async () => {
  const pool = createBcryptPool(2, 10);
  pool.warm();
  pool.warm();
  const hash = bcrypt.hashSync("sk_live_secret", 4);
  assert.deepEqual(
    await Promise.all([pool.compare("sk_live_secret", hash), pool.compare("sk_live_other", hash)]),
    [true, false],
  );
  assert.ok(bcrypt.compareSync("sk_live_secret", await pool.hash("sk_live_secret", 4)));
  assert.deepEqual(pool.counts, { hashes: 1, compares: 2 });
});
