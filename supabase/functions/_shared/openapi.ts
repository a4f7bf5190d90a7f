// A small OpenAPI 3.1 generator over zod v4's z.toJSONSchema: each function describes its operations
// with the very zod schemas its handlers validate with and answer with (schemas.ts), and this turns
// them into one document. Schemas that carry `.meta({ id })` become named components.
import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "./http.ts";
import { errorEnvelopeSchema } from "./schemas.ts";

export type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = Record<string, unknown> & {
  openapi: string;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: Record<string, Record<string, unknown>>;
};

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

export interface Example {
  summary: string;
  description?: string;
  value: unknown;
}

/** A JSON answer: its schema, the names of its headers (components.headers) and examples. */
export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  headers?: string[];
  examples?: Record<string, Example>;
}

export interface OperationSpec {
  method: HttpMethod;
  /** The full path as served under /functions/v1, OpenAPI style: `/api-keys/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Security requirement names; `[]`: no authentication. Default: the document's. */
  security?: string[];
  pathParams?: z.ZodObject;
  query?: z.ZodType;
  /** Names of components.parameters (headers a client may send). */
  parameters?: string[];
  body?: { schema: z.ZodType; required: boolean; description?: string; examples?: Record<string, Example> };
  /** By status: an answer, or the name of a shared one in components.responses. */
  responses: Record<string, ResponseSpec | string>;
}

export interface HeaderSpec {
  description: string;
  schema: z.ZodType;
}

export interface ParameterSpec {
  name: string;
  in: "header" | "query";
  description: string;
  schema: z.ZodType;
  required?: boolean;
}

export interface DocumentSpec {
  info: Record<string, unknown>;
  servers: Record<string, unknown>[];
  tags: { name: string; description: string }[];
  securitySchemes: Record<string, Record<string, unknown>>;
  /** Default security requirement of every operation (by scheme name). */
  security: string[];
  headers?: Record<string, HeaderSpec>;
  parameters?: Record<string, ParameterSpec>;
  responses?: Record<string, ResponseSpec>;
  operations: OperationSpec[];
}

const componentRef = "#/components/schemas/";
/** Keys that do not make a schema say anything about its value's type. */
const annotations = new Set(["description", "examples", "default", "title", "deprecated", "readOnly", "writeOnly"]);

/** Turns zod schemas into JSON Schema 2020-12, collecting schemas with an id as components. */
class SchemaCollector {
  readonly components: Record<string, JsonSchema> = {};

  /** `io`: "input" for what a client sends (defaults optional), "output" for what it receives. */
  convert(schema: z.ZodType, io: "input" | "output"): JsonSchema {
    const json = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
    const { $schema: _, $defs, ...root } = json;
    for (const [name, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      this.#add(name, rewriteRefs(definition) as JsonSchema);
    }
    const converted = rewriteRefs(root) as JsonSchema;
    assertRepresentable(converted, "(root)");
    return converted;
  }

  #add(name: string, definition: JsonSchema) {
    assertRepresentable(definition, name);
    const existing = this.components[name];
    if (existing && JSON.stringify(existing) !== JSON.stringify(definition)) {
      // Two different schemas under one id (or one schema used both as input and output, which
      // differ in defaults and additionalProperties): the document would lie about one of them.
      throw new Error(`OpenAPI: component schema ${name} has two different definitions`);
    }
    this.components[name] = definition;
  }
}

/**
 * Points `$ref`s at components.schemas, and drops the ±(2^53 - 1) bounds z.int() adds: they are
 * JavaScript's safe-integer range, not a rule of the API.
 */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).flatMap(([key, child]) => {
      if (key === "$ref" && typeof child === "string" && child.startsWith("#/$defs/")) {
        return [[key, componentRef + child.slice("#/$defs/".length)]];
      }
      if (
        (key === "maximum" && child === Number.MAX_SAFE_INTEGER) ||
        (key === "minimum" && child === Number.MIN_SAFE_INTEGER)
      ) {
        return [];
      }
      return [[key, rewriteRefs(child)]];
    }),
  );
}

/**
 * A zod schema JSON Schema cannot express (z.custom, a transform's output) comes out as `{}`: a
 * property, item or alternative that says nothing about its type. Refuse those, so a schema
 * without `.meta({ type })` never reaches the document as "anything".
 */
function assertRepresentable(schema: JsonSchema, where: string) {
  const check = (child: unknown, path: string) => {
    if (child === null || typeof child !== "object") return;
    const keys = Object.keys(child);
    if (keys.every((key) => annotations.has(key))) {
      throw new Error(`OpenAPI: ${where} ${path} has no JSON Schema type; give its zod schema .meta({ type })`);
    }
    assertRepresentable(child as JsonSchema, where);
  };
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, unknown>)) {
    check(child, `.${name}`);
  }
  if (schema.items) check(schema.items, "[]");
  for (const keyword of ["anyOf", "oneOf", "allOf"]) {
    for (const [i, child] of ((schema[keyword] ?? []) as unknown[]).entries()) check(child, `${keyword}[${i}]`);
  }
}

function content(
  collector: SchemaCollector,
  schema: z.ZodType,
  io: "input" | "output",
  examples?: Record<string, Example>,
) {
  return {
    "application/json": {
      schema: collector.convert(schema, io),
      ...(examples ? { examples } : {}),
    },
  };
}

function response(collector: SchemaCollector, spec: ResponseSpec) {
  return {
    description: spec.description,
    ...(spec.headers?.length
      ? { headers: Object.fromEntries(spec.headers.map((name) => [name, { $ref: `#/components/headers/${name}` }])) }
      : {}),
    ...(spec.schema ? { content: content(collector, spec.schema, "output", spec.examples) } : {}),
  };
}

/** One parameter per property of an object schema (path or query). */
function parametersOf(collector: SchemaCollector, schema: z.ZodType, where: "path" | "query") {
  const json = collector.convert(schema, "input");
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(description ? { description } : {}),
      schema: propertySchema,
    };
  });
}

export function openApiDocument(spec: DocumentSpec): OpenApiDocument {
  const collector = new SchemaCollector();
  const paths: OpenApiDocument["paths"] = {};

  for (const op of spec.operations) {
    const parameters = [
      ...(op.pathParams ? parametersOf(collector, op.pathParams, "path") : []),
      ...(op.query ? parametersOf(collector, op.query, "query") : []),
      ...(op.parameters ?? []).map((name) => ({ $ref: `#/components/parameters/${name}` })),
    ];
    const security = op.security ?? spec.security;
    const operation: Record<string, unknown> = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      tags: op.tags,
      security: security.map((name) => ({ [name]: [] })),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body
        ? {
          requestBody: {
            required: op.body.required,
            ...(op.body.description ? { description: op.body.description } : {}),
            content: content(collector, op.body.schema, "input", op.body.examples),
          },
        }
        : {}),
      responses: Object.fromEntries(
        Object.entries(op.responses).map(([status, answer]) => [
          status,
          typeof answer === "string" ? { $ref: `#/components/responses/${answer}` } : response(collector, answer),
        ]),
      ),
    };
    (paths[op.path] ??= {})[op.method] = operation;
  }

  const headers = Object.fromEntries(
    Object.entries(spec.headers ?? {}).map(([name, header]) => [
      name,
      { description: header.description, schema: collector.convert(header.schema, "output") },
    ]),
  );
  const parameters = Object.fromEntries(
    Object.entries(spec.parameters ?? {}).map(([key, p]) => [
      key,
      {
        name: p.name,
        in: p.in,
        description: p.description,
        required: p.required ?? false,
        schema: collector.convert(p.schema, "input"),
      },
    ]),
  );
  const responses = Object.fromEntries(
    Object.entries(spec.responses ?? {}).map(([name, answer]) => [name, response(collector, answer)]),
  );

  return {
    openapi: "3.1.1",
    info: spec.info,
    servers: spec.servers,
    tags: spec.tags,
    security: spec.security.map((name) => ({ [name]: [] })),
    paths,
    components: {
      securitySchemes: spec.securitySchemes,
      ...(Object.keys(parameters).length ? { parameters } : {}),
      ...(Object.keys(headers).length ? { headers } : {}),
      ...(Object.keys(responses).length ? { responses } : {}),
      schemas: Object.fromEntries(Object.entries(collector.components).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}

/** The example `meta` of an answer in the documents. */
export const exampleMeta = {
  request_id: "0b8c6f52-7d8e-4f4a-9a51-3c2e1d4b5a69",
  timestamp: "2026-03-17T12:15:00.000Z",
};

/** An error answer as the service sends it, for examples. */
export function errorExample(
  summary: string,
  code: string,
  message: string,
  extra: { details?: unknown[]; retry_after?: number } = {},
): Example {
  return { summary, value: { error: { code, message, ...extra }, meta: exampleMeta } };
}

/**
 * GET /<function>/openapi.json: the document itself (not in the envelope: tools read it as is),
 * without authentication, readable from any origin (it is public and carries no credentials).
 */
export function openApiRoute(document: () => OpenApiDocument) {
  return (c: Context<AppEnv>) => {
    c.header("Access-Control-Allow-Origin", "*");
    c.header("Cache-Control", "no-cache");
    return c.json(document());
  };
}

/** Builds a document on first use and keeps it: the schemas do not change while a process runs. */
export function once(build: () => OpenApiDocument): () => OpenApiDocument {
  let document: OpenApiDocument | undefined;
  return () => (document ??= build());
}

/** An error answer: the envelope schema and examples, with these headers. */
export function errorResponse(description: string, examples: Example[], headers: string[] = []): ResponseSpec {
  return {
    description,
    schema: errorEnvelopeSchema,
    headers: ["X-Request-Id", ...headers],
    examples: Object.fromEntries(examples.map((example, i) => [exampleName(example.summary, i), example])),
  };
}

function exampleName(summary: string, i: number): string {
  const name = summary.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "").slice(0, 40);
  return name || `example_${i + 1}`;
}

/** Headers both functions send. */
export const commonHeaders: Record<string, HeaderSpec> = {
  "X-Request-Id": {
    description: "The request's id, equal to `meta.request_id` of the body. On every answer.",
    schema: z.uuid(),
  },
  "Retry-After": {
    description: "Seconds to wait before sending the same request again (429 and 503).",
    schema: z.int().min(0),
  },
};

/** The servers of both documents: this deployment (relative), the local server, hosted Supabase. */
export const servers = [
  { url: "/functions/v1", description: "The deployment that served this document" },
  { url: "http://127.0.0.1:54321/functions/v1", description: "Local: `deno task start`" },
  {
    url: "https://{project_ref}.supabase.co/functions/v1",
    description: "Hosted Supabase",
    variables: { project_ref: { default: "your-project-ref", description: "The Supabase project's reference id" } },
  },
];

/** What GET …/openapi.json answers: an OpenAPI 3.1 document (its full schema is the OpenAPI specification's). */
export const openApiObject = z.object({ openapi: z.string().meta({ examples: ["3.1.1"] }) }).loose().meta({
  id: "OpenApiDocument",
  description: "An OpenAPI 3.1 document (see the OpenAPI Specification for its schema).",
});
