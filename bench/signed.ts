// `deno task bench --signed`: what a signed (P2S-SIGN-V1) small request costs the service beside a
// Bearer one whose key is already proven, in one process on one database, the two sent in turn so
// that both meet the same machine. The client's signing is done before the clock starts: the
// service's cost is measured, not the client's.
import { signedAuthorization } from "../clients/typescript/src/signing.ts";
import { testConfig } from "../tests/support/database.ts";
import { createKey, createTenant } from "../tests/support/fixtures.ts";
import { integrationHarness } from "../tests/support/integration.ts";
import { createScratchDatabase } from "../tools/database.ts";
import type { BenchConfig } from "./config.ts";
import { markdownTable } from "./results.ts";

const publicPath = "/functions/v1/default-integration";

export async function signedVersusBearer(config: BenchConfig, rounds = 2_000) {
  const scratch = await createScratchDatabase(config.serverUrl, "salesos_bench_signed", testConfig);
  try {
    const tenant = await createTenant(scratch.db);
    const api = integrationHarness(scratch.db);
    const signed = await createKey(scratch.db, tenant, { auth_scheme: "signed", rate_limit_per_hour: 100_000 });
    const bearer = await createKey(scratch.db, tenant, { rate_limit_per_hour: 100_000 });
    let sent = 0;
    const body = () => JSON.stringify({ action: "sync_activities", activities: [], request: ++sent });
    const send = async (authorization: string, text: string) => {
      const started = performance.now();
      const answer = await api.call({ headers: { authorization, "content-type": "application/json" }, body: text });
      if (answer.status !== 200) throw new Error(`bench: ${answer.status} ${JSON.stringify(answer.json)}`);
      return performance.now() - started;
    };
    const signedRequest = async () => {
      const text = body();
      return [
        await signedAuthorization({
          apiKey: signed.key,
          secret: signed.secret!,
          method: "POST",
          path: publicPath,
          body: text,
        }),
        text,
      ] as const;
    };
    const bearerMs: number[] = [];
    const signedMs: number[] = [];
    // The first rounds prove and remember both keys and warm the code; they are not counted.
    // Each pair is sent in turn in either order, so that neither always follows the other's commit.
    for (let i = -100; i < rounds; i++) {
      const signedNext = await signedRequest();
      const [b, s] = i % 2 === 0
        ? [await send(`Bearer ${bearer.key}`, body()), await send(...signedNext)]
        : [await send(...signedNext), await send(`Bearer ${bearer.key}`, body())].reverse();
      if (i >= 0) bearerMs.push(b), signedMs.push(s);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // The upper middle value, as recorded so far (harness.ts's median averages the two middle ones).
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const result = {
      rounds,
      bearer_mean_ms: mean(bearerMs),
      signed_mean_ms: mean(signedMs),
      bearer_p50_ms: median(bearerMs),
      signed_p50_ms: median(signedMs),
      ratio_mean: mean(signedMs) / mean(bearerMs),
    };
    const msPair = (first: number, second: number) => `${first.toFixed(2)} / ${second.toFixed(2)} ms`;
    const row = [
      `signed small request / cached Bearer one (mean latency, in process, ${rounds} alternating pairs)`,
      `${result.ratio_mean.toFixed(3)} (${msPair(result.signed_mean_ms, result.bearer_mean_ms)}; ` +
      `p50 ${msPair(result.signed_p50_ms, result.bearer_p50_ms)})`,
      "≤ 1.00",
      result.ratio_mean <= 1 ? "yes" : "no",
    ];
    console.log(markdownTable(["measure", "value", "target", "met?"], [row]));
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await scratch.db.close();
    await scratch.drop();
  }
}
