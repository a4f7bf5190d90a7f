// Checks real answers against the OpenAPI documents: the operation and its status must be
// documented, the body must validate against the documented schema (JSON Schema 2020-12, with
// Ajv), and every documented header must be there.
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { OpenApiDocument } from "../../supabase/functions/_shared/openapi.ts";
import type { Answer } from "./integration.ts";

// ajv-formats is CommonJS: its function is the default export, or the module itself.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => void;

type Json = Record<string, any>;

export interface DocumentChecker {
  /** The documented path template of a concrete path (`/api-keys/{id}` for `/api-keys/5f0c…`), or null. */
  template(path: string): string | null;
  /** Asserts that `res` is a documented answer of `method path`, with the documented body and headers. */
  check(method: string, path: string, res: Answer): void;
  /** Every (operation, status) checked so far, as "METHOD /template status". */
  seen: Set<string>;
}

function escapePointer(part: string): string {
  return part.replaceAll("~", "~0").replaceAll("/", "~1");
}

export function documentChecker(document: OpenApiDocument): DocumentChecker {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  ajv.addSchema(document, "openapi");
  const seen = new Set<string>();

  // Literal paths first, so /api-keys/audit is never taken for /api-keys/{id}.
  const templates = Object.keys(document.paths).sort((a, b) => Number(a.includes("{")) - Number(b.includes("{")));
  const template = (path: string) => {
    const clean = path.split("?")[0].replace(/(.)\/$/, "$1");
    return templates.find((t) =>
      new RegExp(`^${t.replace(/\{[^}]+\}/g, "[^/]+").replaceAll(".", "\\.")}$`).test(clean)
    ) ??
      null;
  };

  const resolve = (value: Json): Json => {
    if (typeof value?.$ref !== "string") return value;
    const parts = value.$ref.replace(/^#\//, "").split("/").map((p: string) =>
      p.replaceAll("~1", "/").replaceAll("~0", "~")
    );
    return resolve(parts.reduce((node: Json, part: string) => node[part], document as Json));
  };

  return {
    seen,
    template,
    check(method, path, res) {
      const label = `${method} ${path} → ${res.status}`;
      const tpl = template(path);
      assert.ok(tpl, `${label}: path not in the document`);
      const operation = document.paths[tpl][method.toLowerCase()] as Json | undefined;
      assert.ok(operation, `${label}: ${method} ${tpl} not in the document`);
      const documented = operation.responses[String(res.status)];
      assert.ok(documented, `${label}: status ${res.status} not documented for ${method} ${tpl}`);
      const answer = resolve(documented);
      seen.add(`${method.toUpperCase()} ${tpl} ${res.status}`);

      // A header documented `required: false` is sent only sometimes (Idempotent-Replayed); the rest always.
      for (const [header, described] of Object.entries(answer.headers ?? {})) {
        if (resolve(described as Json).required === false) continue;
        assert.ok(res.headers.has(header), `${label}: documented header ${header} missing`);
      }
      const media = answer.content?.["application/json"];
      if (!media) return;
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/, label);
      const pointer = ["paths", tpl, method.toLowerCase(), "responses", String(res.status)].map(escapePointer).join(
        "/",
      );
      const schemaRef = typeof documented.$ref === "string"
        ? `openapi${documented.$ref}/content/application~1json/schema`
        : `openapi#/${pointer}/content/application~1json/schema`;
      const validate = ajv.getSchema(schemaRef) ?? ajv.compile({ $ref: schemaRef });
      assert.ok(
        validate(res.json),
        `${label}: body does not match the document: ${JSON.stringify(validate.errors?.slice(0, 5))}\n` +
          JSON.stringify(res.json).slice(0, 500),
      );
    },
  };
}
