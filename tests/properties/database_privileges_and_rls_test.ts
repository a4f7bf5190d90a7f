// Database security, with pgTAP. The files of supabase/tests/database (the
// Supabase CLI's place for them, so `supabase test db` runs them too) run with pg_prove against a
// fresh migrated database that the real API has first written to: keys created, rotated and used
// through both functions, so "no plaintext key in any column" is checked on real rows. Signed keys
// too: no column holds a secret or k1 (as hex, base64 or raw bytes), which pgTAP cannot know, so
// this file scans for them itself.
// Needs pg_prove and the pgTAP extension (Debian: postgresql-15-pgtap, libtap-parser-sourcehandler-pgtap-perl);
// nothing is installed here.
import assert from "node:assert/strict";
import { developmentJwtSecret } from "../../tools/config.ts";
import { createJwtVerifier } from "../../supabase/functions/api-keys/jwt.ts";
import { createKeyVerifier } from "../../supabase/functions/default-integration/key_verifier.ts";
import { createApiKeysApp } from "../../supabase/functions/api-keys/app.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { freshDatabase } from "../support/database.ts";
import { createTenant, testSigningSettings } from "../support/fixtures.ts";
import { createHmac } from "node:crypto";
import { signedAuthorization } from "../../supabase/functions/_shared/signing.ts";
import { dashboardMember, propertyTest, rememberSecrets } from "../support/properties.ts";

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

const testsDir = new URL("../../supabase/tests/database/", import.meta.url);

async function pgProve(databaseUrl: string, files: string[]) {
  let output;
  try {
    output = await new Deno.Command("pg_prove", {
      args: ["--verbose", "--dbname", databaseUrl, ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(
      `pg_prove is not installed (${
        (error as Error).message
      }). On Debian: apt-get install postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl`,
    );
  }
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

propertyTest("6", "database security (pgTAP)", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const files: string[] = [];
  for await (const entry of Deno.readDir(testsDir)) {
    if (entry.isFile && entry.name.endsWith(".test.sql")) files.push(new URL(entry.name, testsDir).pathname);
  }
  files.sort();

  const signedSecrets: string[] = [];
  const signatures: string[] = [];
  await step(
    "the API writes real rows first: keys created, rotated, used and revoked through both functions",
    async () => {
      const tenant = await createTenant(test.db);
      const { token: jwt } = await dashboardMember(test.db, tenant, "owner@pgtap.test");
      const apiKeys = createApiKeysApp({
        db: test.db,
        jwt: createJwtVerifier({ jwtSecret: developmentJwtSecret }),
        config: { ...testSigningSettings, trustedProxyHops: 0, maxActiveKeysPerTenant: 100, bcryptCost: 4 },
        log: () => {},
      });
      const integration = createIntegrationApp({
        db: test.db,
        keys: createKeyVerifier(test.db),
        config: { ...testSigningSettings, trustedProxyHops: 0 },
        log: () => {},
      });
      const call = async (
        app: typeof apiKeys | typeof integration,
        method: string,
        path: string,
        token: string,
        body?: unknown,
      ) => {
        const res = await app.fetch(
          new Request(`http://localhost${path}`, {
            method,
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
          }),
          { remoteAddr: { hostname: "127.0.0.1" } },
        );
        const json = await res.json();
        assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
        return json;
      };
      const created = await call(apiKeys, "POST", "/api-keys", jwt, { name: "pgtap live", scopes: ["default:sync"] });
      const createdTest = await call(apiKeys, "POST", "/api-keys", jwt, { name: "pgtap test", environment: "test" });
      const rotated = await call(apiKeys, "POST", `/api-keys/${created.data.id}/rotate`, jwt, {
        grace_period_seconds: 60,
      });
      rememberSecrets(created.data.key, createdTest.data.key, rotated.data.key);
      for (const key of [created.data.key, rotated.data.key, createdTest.data.key]) {
        await call(integration, "POST", "/default-integration", key, {
          action: "sync_collaborators",
          collaborators: [{
            external_id: "e1",
            name: "Ana",
            email: "ana@example.com",
            metadata: { note: key.slice(0, 16) },
          }],
        });
      }
      await call(apiKeys, "PATCH", `/api-keys/${createdTest.data.id}`, jwt, {
        name: "renamed",
        ip_allowlist: ["10.0.0.0/8"],
      });
      await call(apiKeys, "POST", `/api-keys/${createdTest.data.id}/revoke`, jwt);

      // Signed keys: created, rotated and used with signed requests.
      const signed = await call(apiKeys, "POST", "/api-keys", jwt, { name: "pgtap signed", auth_scheme: "signed" });
      const signedRotated = await call(apiKeys, "POST", `/api-keys/${signed.data.id}/rotate`, jwt, {
        grace_period_seconds: 60,
      });
      for (const { key, secret } of [signed.data, signedRotated.data]) {
        rememberSecrets(key, secret);
        signedSecrets.push(secret, createHmac("sha256", secret).update(key).digest("hex"));
        const body = JSON.stringify({ action: "sync_activities", activities: [] });
        const authorization = signedAuthorization({ apiKey: key, secret, body });
        const res = await integration.fetch(
          new Request("http://localhost/default-integration", {
            method: "POST",
            headers: { authorization, "content-type": "application/json" },
            body,
          }),
          { remoteAddr: { hostname: "127.0.0.1" } },
        );
        assert.equal(res.status, 200, await res.text());
        signatures.push(authorization.slice(-64));
      }
    },
  );

  await step("no column of any salesos table holds a signed key's secret or k1 in plaintext", async () => {
    const columns = await test.db.query<{ relname: string; attname: string; bytea: boolean }>(
      `select c.relname, a.attname, a.atttypid = 'bytea'::regtype as bytea
         from pg_catalog.pg_attribute a
         join pg_catalog.pg_class c on c.oid = a.attrelid
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'salesos' and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped`,
    );
    // Each needle as text (hex, base64) in any column's text form, which shows a bytea column as hex
    // (so k1's raw bytes are found too), and as UTF-8 bytes inside a bytea column.
    const places = async (needles: string[]) => {
      const found: string[] = [];
      for (const { relname, attname, bytea } of columns) {
        const [{ hits }] = await test.db.query<{ hits: number }>(
          `select count(*)::int as hits from salesos.${quoteIdent(relname)} x, unnest($1::text[]) needle
            where strpos(x.${quoteIdent(attname)}::text, needle) > 0
               ${bytea ? `or position(convert_to(needle, 'UTF8') in x.${quoteIdent(attname)}) > 0` : ""}`,
          [needles],
        );
        if (hits > 0) found.push(`${relname}.${attname}`);
      }
      return found.sort();
    };
    const needles = signedSecrets.flatMap((
      hex,
    ) => [hex, btoa(String.fromCharCode(...hex.match(/../g)!.map((h) => parseInt(h, 16))))]);
    figures.signed_secrets_searched = signedSecrets.length;
    figures.columns_scanned = columns.length;
    assert.ok(signedSecrets.length === 4 && columns.length > 50, "two signed keys' secrets and k1, every column");
    assert.deepEqual(await places(needles), []);
    // The scan can fail: each accepted signature is kept as raw bytes, and is found.
    assert.deepEqual(await places(signatures), ["request_signatures.signature"]);
  });

  await step(`pg_prove runs ${files.length} pgTAP files and every assertion passes`, async () => {
    assert.ok(files.length >= 3, "the pgTAP files are there");
    const result = await pgProve(test.url, files);
    const passed = [...result.stdout.matchAll(/^ok \d+ - (.*)$/gm)].map((m) => m[1]);
    const failed = [...result.stdout.matchAll(/^not ok \d+ - (.*)$/gm)].map((m) => m[1]);
    figures.pgtap_files = files.map((f) => f.replace(/^.*\/supabase\//, "supabase/"));
    figures.assertions_passed = passed.length;
    figures.assertions_failed = failed.length;
    figures.failed = failed;
    figures.assertions = passed.concat(failed.map((f) => `NOT OK: ${f}`));
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /All tests successful/);
    assert.deepEqual(failed, []);
    assert.ok(passed.length >= 20, `only ${passed.length} assertions ran`);
  });
});
