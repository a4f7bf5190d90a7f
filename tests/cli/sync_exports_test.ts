// `deno task sync` on exports as CRMs and spreadsheets in Brazil write them (committed files in
// tests/cli/fixtures/): `;`-separated Windows-1252 with Portuguese headers and accents, a UTF-8 BOM
// tab-separated file, renamed headers with --map, duplicate emails and external_ids; and --dry-run,
// which validates locally and writes nothing. Against the real service on a fresh database.
import assert from "node:assert/strict";
import { startService } from "../support/client_service.ts";
import { exists, readJsonl, sync } from "../support/sync_cli.ts";

const fixtures = new URL("./fixtures/", import.meta.url).pathname;

Deno.test("sync CLI on real exports: encodings, delimiters, header names, --map, duplicates, --dry-run", async (t) => {
  await using service = await startService();
  const dir = await Deno.makeTempDir({ prefix: "salesos-sync-exports-" });
  const { key, tenantId } = await service.key();
  /** A fixture copied to the temp directory (the CLI writes its rejected rows beside the file). */
  const fixture = async (name: string) => {
    await Deno.copyFile(`${fixtures}${name}`, `${dir}/${name}`);
    return `${dir}/${name}`;
  };
  const collaborators = (pattern: string) =>
    service.query<Record<string, unknown>>(
      "select external_id, name, email, phone, team, role from salesos.collaborators " +
        "where tenant_id = $1 and external_id like $2 order by external_id",
      [tenantId, pattern],
    );
  const totals = async () =>
    (await service.query<{ collaborators: string; requests: string }>(
      "select (select count(*) from salesos.collaborators) as collaborators, " +
        "(select count(*) from salesos.request_log) as requests",
    ))[0];
  try {
    await t.step("--dry-run: read and checked locally, the report printed, nothing sent or written", async () => {
      const before = await totals();
      const people = await fixture("colaboradores_windows1252.csv");
      // No key and no --url: a dry run cannot send anything.
      const clean = await sync(["collaborators", people, "--dry-run"]);
      assert.equal(clean.code, 0, clean.stderr);
      assert.deepEqual({ ...clean.summary, duration_ms: undefined }, {
        action: "sync_collaborators",
        file: people,
        status: "validated",
        rows: 4,
        rejected: 0,
        batches: 0,
        valid: 4,
        resumed_after_row: 0,
        rejected_file: null,
        duration_ms: undefined,
      });

      const file = `${dir}/invalid.csv`;
      await Deno.writeTextFile(
        file,
        "Código,Nome,E-mail\nv-1,Vera,vera@example.com\nv-2,,not-an-email\nv-3,Vera Lúcia,VERA@example.com\n",
      );
      const checked = await sync(["collaborators", file, "--dry-run"]);
      assert.equal(checked.code, 1, checked.stderr);
      assert.deepEqual(
        [checked.summary!.status, checked.summary!.valid, checked.summary!.rejected, checked.summary!.rejected_file],
        ["validated_with_rejections", 1, 2, `${file}.dry-run.rejected.jsonl`],
      );
      assert.deepEqual((await readJsonl(`${file}.dry-run.rejected.jsonl`)).map((r) => [r.line, r.reason]), [
        [3, "Collaborator v-2 (not-an-email): name must be a string of 1-255 characters; email must be a valid email"],
        [
          4,
          'email "VERA@example.com" is also on line 2: rows of one file must not share an email (this row is not sent)',
        ],
      ]);

      const calls = `${dir}/calls.csv`;
      await Deno.writeTextFile(
        calls,
        "activity_code;external_id;collaborator_email;occurred_at\n" +
          "001;c-1;vera@example.com;2026-03-17T09:15:00-03:00\n1;c-2;vera@example.com;2026-03-17 09:15\n",
      );
      const activities = await sync(["activities", calls, "--dry-run"]);
      assert.equal(activities.code, 1, activities.stderr);
      assert.deepEqual(await readJsonl(`${calls}.dry-run.rejected.jsonl`), [{
        row: 2,
        line: 3,
        reason: 'Activity c-2 (vera@example.com): activity_code: Required 3-digit string (001-999), e.g. "001"; ' +
          "occurred_at: Offset missing: add Z or an offset such as -03:00 to the date-time (at most 24 hours ahead)",
        details: [
          { field: "activity_code", message: 'Required 3-digit string (001-999), e.g. "001"' },
          {
            field: "occurred_at",
            message: "Offset missing: add Z or an offset such as -03:00 to the date-time (at most 24 hours ahead)",
          },
        ],
        input: {
          activity_code: "1",
          external_id: "c-2",
          collaborator_email: "vera@example.com",
          occurred_at: "2026-03-17 09:15",
        },
      }]);
      assert.deepEqual(await totals(), before, "no collaborator stored, no request logged");
      assert.equal(await exists(`${people}.checkpoint.json`), false);
    });

    await t.step("`;`-separated Windows-1252 with Portuguese headers: detected and stored exactly", async () => {
      const file = await fixture("colaboradores_windows1252.csv");
      const result = await sync(["collaborators", file, "--url", service.baseUrl], key);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /the file is not UTF-8: read as windows-1252 \(--encoding to choose\)/);
      assert.match(result.stderr, /delimiter: ;/);
      assert.deepEqual([result.summary!.rows, result.summary!.created], [4, 4]);
      assert.deepEqual([...await collaborators("BR-%")], [
        {
          external_id: "BR-001",
          name: "João Conceição",
          email: "joao.conceicao@exemplo.com.br",
          phone: "+55 11 91234-5678",
          team: "Vendas São Paulo",
          role: null,
        },
        {
          external_id: "BR-002",
          name: "Antônia Araújo",
          email: "antonia.araujo@exemplo.com.br",
          phone: null,
          team: "Vendas Nordeste",
          role: null,
        },
        {
          external_id: "BR-003",
          name: "Luís D’Ávila",
          email: "luis.davila@exemplo.com.br",
          phone: "+55 21 99876-5432",
          team: "Vendas Rio; Niterói",
          role: null,
        },
        {
          external_id: "BR-004",
          name: "Inês Gonçalves",
          email: "ines.goncalves@exemplo.com.br",
          phone: null,
          team: null,
          role: null,
        },
      ]);
      // Given rather than detected, the same file reads the same.
      const given = await sync(
        ["collaborators", file, "--url", service.baseUrl, "--encoding", "windows-1252", "--delimiter", ";"],
        key,
      );
      assert.deepEqual([given.code, given.summary!.created, given.summary!.existing], [0, 0, 4], given.stderr);
      assert.doesNotMatch(given.stderr, /read as windows-1252/);
    });

    await t.step("UTF-8 with a BOM, tab-separated, Portuguese headers", async () => {
      const file = await fixture("colaboradores_utf8_bom_tab.csv");
      const result = await sync(["collaborators", file, "--url", service.baseUrl], key);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /delimiter: tab/);
      assert.deepEqual([...await collaborators("PT-%")], [
        {
          external_id: "PT-001",
          name: "Conceição Lobo",
          email: "conceicao@exemplo.pt",
          phone: null,
          team: null,
          role: "Gerente de Contas",
        },
        {
          external_id: "PT-002",
          name: "André Simões",
          email: "andre@exemplo.pt",
          phone: null,
          team: null,
          role: "Vendedor",
        },
      ]);
    });

    await t.step("renamed headers: refused without --map (nothing sent), stored with it", async () => {
      const file = await fixture("renamed_headers.csv");
      const refused = await sync(["collaborators", file, "--url", service.baseUrl], key);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /^unknown columns: Work E-mail, Cidade; missing columns: email \(/);
      assert.deepEqual([...await collaborators("ren-%")], []);

      const mapped = await sync([
        "collaborators",
        file,
        "--url",
        service.baseUrl,
        "--map",
        "External ID=external_id,Full Name=name,Work E-mail=email,Cidade=",
      ], key);
      assert.equal(mapped.code, 0, mapped.stderr);
      assert.deepEqual((await collaborators("ren-%")).map((c) => [c.external_id, c.name, c.email]), [
        ["ren-1", "Maria Santos", "maria.santos@example.com"],
        ["ren-2", "Pedro Alves", "pedro.alves@example.com"],
      ]);
    });

    await t.step("duplicate emails or external_ids in a file: rejected naming both lines, never merged", async () => {
      const file = await fixture("duplicate_emails.csv");
      const result = await sync(["collaborators", file, "--url", service.baseUrl], key);
      assert.equal(result.code, 1, result.stderr);
      assert.deepEqual(
        [result.summary!.rows, result.summary!.created, result.summary!.existing, result.summary!.rejected],
        [5, 3, 0, 2],
      );
      assert.deepEqual((await readJsonl(`${file}.rejected.jsonl`)).map((r) => [r.row, r.line, r.reason]), [
        [
          3,
          4,
          'email "ANA@example.com" is also on line 2: rows of one file must not share an email (this row is not sent)',
        ],
        [
          4,
          5,
          'external_id "dup-2" is also on line 3: rows of one file must not share an external_id (this row is not sent)',
        ],
      ]);
      assert.deepEqual((await collaborators("dup-%")).map((c) => [c.external_id, c.name, c.email]), [
        ["dup-1", "Ana Souza", "ana@example.com"],
        ["dup-2", "Bruno Lima", "bruno@example.com"],
        ["dup-5", "Carla Dias", "carla@example.com"],
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
