// Which field of an item each CSV column is: the field's own name, a `--map` entry, or a common
// export header (English or Portuguese) matched without regard to case, accents, spaces or
// punctuation ("E-mail", "Nome", "Código", "External ID").

export const kinds = {
  collaborators: {
    action: "sync_collaborators",
    columns: ["external_id", "name", "email", "phone", "document", "team", "role", "metadata"],
    required: ["external_id", "name", "email"],
    jsonColumn: "metadata",
    counts: ["created", "existing"],
    /** Fields that identify a row: two rows with the same value are one person or one activity. */
    identities: ["external_id", "email"],
  },
  activities: {
    action: "sync_activities",
    columns: ["activity_code", "external_id", "collaborator_email", "data", "occurred_at"],
    required: ["activity_code", "external_id", "collaborator_email"],
    jsonColumn: "data",
    counts: ["processed", "skipped", "duplicates"],
    identities: ["external_id"],
  },
} as const;
export type Kind = keyof typeof kinds;

/** "E-mail", "e mail", "EMAIL" → "email"; "Código" → "codigo". */
const normalizeHeader = (name: string) =>
  name.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().replace(/[^a-z0-9]/g, "");

/** Normalized headers that CRM and spreadsheet exports use for each field, by kind. */
const aliases: Record<Kind, Record<string, string[]>> = {
  collaborators: {
    external_id: ["externalid", "id", "idexterno", "codigo", "cod", "codigoexterno", "matricula", "employeeid"],
    name: ["name", "nome", "nomecompleto", "fullname", "colaborador", "vendedor"],
    email: ["email", "mail", "emailaddress", "enderecodeemail"],
    phone: ["phone", "telefone", "celular", "fone", "tel", "mobile", "whatsapp"],
    document: ["document", "documento", "cpf"],
    team: ["team", "equipe", "time"],
    role: ["role", "cargo", "funcao", "jobtitle"],
    metadata: ["metadata", "metadados"],
  },
  activities: {
    activity_code: ["activitycode", "codigoatividade", "codigodaatividade", "tipoatividade", "tipodeatividade"],
    external_id: ["externalid", "id", "idexterno", "idatividade", "activityid"],
    collaborator_email: ["collaboratoremail", "email", "emailcolaborador", "emaildocolaborador", "emailvendedor"],
    data: ["dados"],
    occurred_at: ["occurredat", "ocorridoem", "datahora", "dataehora", "datetime", "timestamp", "dataatividade"],
  },
};

export class ColumnError extends Error {}

/**
 * `--map "External ID=external_id,E-mail=email"`: header → field, matched like the aliases; an
 * empty field (`Cidade=`) leaves that column out.
 */
export function parseMap(text: string | undefined, kind: Kind): Map<string, string | null> {
  const map = new Map<string, string | null>();
  if (text === undefined) return map;
  const columns: readonly string[] = kinds[kind].columns;
  for (const entry of text.split(",")) {
    const at = entry.indexOf("=");
    const header = normalizeHeader(at === -1 ? "" : entry.slice(0, at));
    const field = entry.slice(at + 1).trim();
    if (at === -1 || header === "") throw new ColumnError(`--map: "${entry}" is not <column header>=<field>`);
    if (field !== "" && !columns.includes(field)) {
      throw new ColumnError(`--map: "${field}" is not a field of ${kind} (${columns.join(", ")})`);
    }
    map.set(header, field === "" ? null : field);
  }
  return map;
}

/** The field of each column of `header` (null: left out), or a ColumnError saying what does not fit. */
export function resolveColumns(header: string[], kind: Kind, map: Map<string, string | null>): (string | null)[] {
  const { columns, required } = kinds[kind];
  const byAlias = new Map(
    Object.entries(aliases[kind]).flatMap(([field, names]) => names.map((name) => [name, field] as const)),
  );
  const unknown: string[] = [];
  const fields = header.map((raw) => {
    const name = raw.trim();
    const normalized = normalizeHeader(name);
    if (map.has(normalized)) return map.get(normalized)!;
    if ((columns as readonly string[]).includes(name)) return name;
    const field = byAlias.get(normalized);
    if (field) return field;
    unknown.push(name);
    return null;
  });
  const missing = required.filter((field) => !fields.includes(field));
  const repeated = [...new Set(fields.filter((field, i) => field !== null && fields.indexOf(field) !== i))]
    .map((field) => `${header.filter((_, i) => fields[i] === field).join(" and ")} are both ${field}`);
  if (unknown.length || missing.length || repeated.length) {
    throw new ColumnError(
      [
        unknown.length ? `unknown columns: ${unknown.join(", ")}` : "",
        missing.length ? `missing columns: ${missing.join(", ")}` : "",
        repeated.length ? `repeated columns: ${repeated.join("; ")}` : "",
      ].filter(Boolean).join("; ") +
        ` (the fields of ${kind}: ${
          columns.join(", ")
        }; map a header with --map "Header=field", leave one out with --map "Header=")`,
    );
  }
  return fields;
}
