// What the local server loads on first use (the api-keys app, the API reference): once for all
// callers, and again after a failure instead of failing for good.
import assert from "node:assert/strict";
import { onFirstUse } from "../../tools/on_first_use.ts";

Deno.test("a load on first use runs once, for every caller, once it has succeeded", async () => {
  let loads = 0;
  const value = onFirstUse(() => Promise.resolve(++loads));
  assert.deepEqual(await Promise.all([value(), value()]), [1, 1]);
  assert.equal(await value(), 1);
  assert.equal(loads, 1);
});

Deno.test("a load on first use that failed runs again on the next call", async () => {
  let loads = 0;
  const value = onFirstUse(() => ++loads === 1 ? Promise.reject(new Error("disk hiccup")) : Promise.resolve(loads));
  await assert.rejects(value(), /disk hiccup/);
  assert.equal(await value(), 2);
  assert.equal(await value(), 2);
});
