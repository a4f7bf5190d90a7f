// How a function serves its routes and describes them: each route is one @hono/zod-openapi route
// (createRoute: its zod schemas, description and examples) beside its handler; the app registers
// them in one list and produces its OpenAPI 3.1 document itself (getOpenAPI31Document).
import { createRoute, type OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { Handler } from "hono";
import { z } from "zod";
import { messages } from "./errors.ts";
import { type AppEnv, methodNotAllowed, versionHeader } from "./http.ts";
import { errorEnvelopeSchema } from "./schemas.ts";
import { apiVersion } from "./version.ts";

export type FunctionApp = OpenAPIHono<AppEnv>;
export type OpenApiDocument = Record<string, unknown> & {
  openapi: string;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: Record<string, Record<string, unknown>>;
};
type Response = RouteConfig["responses"][string];
type Components = Record<string, Record<string, unknown>>;

/** A route's handler given the function's dependencies (and its OpenAPI document, for the route serving it). */
export type RouteHandler<D> = (deps: D, document: () => object) => Handler<AppEnv>;

/** A route file's exports: the route as documented, and its handler. */
export interface RouteModule<D> {
  route: ReturnType<typeof createRoute>;
  handler: RouteHandler<D>;
}

/** What a function's document says besides its routes. `components` adds to the shared ones. */
export interface DocumentSpec {
  info: { title: string; version: string; summary: string; description: string };
  tags: { name: string; description: string }[];
  securitySchemes: Record<string, Record<string, unknown>>;
  components: { headers?: Components; parameters?: Components; responses: Record<string, Response> };
}

const methodOrder = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/**
 * Serves `routes` in order, each path's other methods answering 405 with `Allow`. A path's routes
 * must be listed together: its 405 is registered before the next path's routes, so that a literal
 * path (`/audit`) listed before a parameter (`/:id`) is never taken for it, whatever the method.
 * The handlers validate their own input with the schemas their route declares: app.openapi's
 * validators would run before authentication and answer with other messages.
 */
export function serveRoutes<D>(app: FunctionApp, spec: DocumentSpec, deps: D, routes: RouteModule<D>[]) {
  const { headers, parameters, responses } = spec.components;
  for (const [type, components] of Object.entries({ headers: { ...sharedHeaders, ...headers }, parameters })) {
    for (const [name, component] of Object.entries(components ?? {})) {
      app.openAPIRegistry.registerComponent(type as "headers", name, component as never);
    }
  }
  for (const [name, response] of Object.entries({ ...sharedResponses, ...responses })) {
    app.openAPIRegistry.registerComponent("responses", name, response as never);
  }
  app.openAPIRegistry.register("Error", errorEnvelopeSchema);
  for (const [name, scheme] of Object.entries(spec.securitySchemes)) {
    app.openAPIRegistry.registerComponent("securitySchemes", name, scheme as never);
  }

  // Any one of the function's schemes (default-integration: Bearer or signed).
  const security = Object.keys(spec.securitySchemes).map((name) => ({ [name]: [] }));
  let built: object | undefined;
  const document = () => {
    if (built) return built;
    const info = { openapi: "3.1.1", info: spec.info, servers, tags: spec.tags, security };
    const { webhooks: _, ...generated } = app.getOpenAPI31Document(info);
    return built = generated;
  };
  const served = new Set<string>();
  let methods: string[] = [];
  const closePath = (path: string) => {
    const allow = methods.sort((a, b) => methodOrder.indexOf(a) - methodOrder.indexOf(b)).join(", ");
    app.all(path, () => methodNotAllowed(allow));
    methods = [];
  };
  routes.forEach(({ route, handler }, i) => {
    const path = route.getRoutingPath();
    if (served.has(path) && routes[i - 1]?.route.getRoutingPath() !== path) {
      throw new Error(`${route.method} ${route.path}: list the routes of a path together`);
    }
    served.add(path);
    // An operation without its own `security` requires one of the function's schemes.
    app.openAPIRegistry.registerPath({ ...route, security: route.security ?? security });
    app.on(route.method.toUpperCase(), path, handler(deps, document));
    methods.push(route.method.toUpperCase());
    if (routes[i + 1]?.route.getRoutingPath() !== path) closePath(path);
  });
}

/**
 * GET /<function>/openapi.json: the app's document (not in the envelope: tools
 * read it as is), without authentication, readable from any origin (public, no credentials).
 */
export const openApiRoute = (functionName: string): RouteModule<unknown> => ({
  route: createRoute({
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "This OpenAPI document",
    description: "No authentication. The document itself, not in the envelope.",
    tags: ["Operations"],
    security: [],
    responses: {
      200: {
        description: `The OpenAPI 3.1 document of ${functionName}.`,
        headers: headerRefs(),
        content: { "application/json": { schema: openApiObject } },
      },
      ...errorResponses(500),
    },
  }),
  handler: (_deps, document) => (c) => {
    c.header("Access-Control-Allow-Origin", "*");
    c.header("Cache-Control", "no-cache");
    return c.json(document());
  },
});

/** The document `app` serves at openapi.json. */
export async function openApiDocumentOf(app: FunctionApp, functionName: string): Promise<OpenApiDocument> {
  return await (await app.request(`/${functionName}/openapi.json`)).json();
}

const openApiObject = z.object({ openapi: z.string().meta({ examples: ["3.1.1"] }) }).loose().meta({
  id: "OpenApiDocument",
  description: "An OpenAPI 3.1 document (see the OpenAPI Specification for its schema).",
});

/** The servers of both documents: this deployment (relative), the local server, hosted Supabase. */
const servers = [
  { url: "/functions/v1", description: "The deployment that served this document" },
  { url: "http://127.0.0.1:54321/functions/v1", description: "Local: `deno task start`" },
  {
    url: "https://{project_ref}.supabase.co/functions/v1",
    description: "Hosted Supabase",
    variables: { project_ref: { default: "your-project-ref", description: "The Supabase project's reference id" } },
  },
];

/** Headers both functions send. */
const sharedHeaders: Components = {
  "X-Request-Id": {
    description: "The request's id, equal to `meta.request_id` of the body. On every answer.",
    schema: { type: "string", format: "uuid" },
  },
  [versionHeader]: {
    description: "The API version that answered (semantic versioning; the document's `info.version`). On every answer.",
    schema: { type: "string", examples: [apiVersion] },
  },
  "Retry-After": {
    description: "Seconds to wait before sending the same request again (429 and 503).",
    schema: { type: "integer", minimum: 0 },
  },
};

/** `headers` of an answer: X-Request-Id and SalesOS-Version (on every answer) and `names`, from components.headers. */
export const headerRefs = (...names: string[]) =>
  Object.fromEntries(
    ["X-Request-Id", versionHeader, ...names].map((name) => [name, { $ref: `#/components/headers/${name}` }]),
  );

/** The example `meta` of an answer in the documents. */
export const exampleMeta = {
  request_id: "0b8c6f52-7d8e-4f4a-9a51-3c2e1d4b5a69",
  timestamp: "2026-03-17T12:15:00.000Z",
};

export interface Example {
  summary: string;
  value: unknown;
}

/** A success answer as the service sends it, for examples. */
export const okExample = (summary: string, data: unknown, meta: Record<string, unknown> = {}): Example => ({
  summary,
  value: { data, meta: { ...exampleMeta, ...meta } },
});

/** An error answer as the service sends it, for examples. */
export function errorExample(
  summary: string,
  code: string,
  message: string,
  extra: { details?: unknown[]; retry_after?: number } = {},
): Example {
  return { summary, value: { error: { code, message, ...extra }, meta: exampleMeta } };
}

/** A JSON success answer: its envelope schema, examples and headers besides X-Request-Id. */
export function jsonResponse(
  description: string,
  schema: z.ZodType,
  examples?: Record<string, Example>,
  headers: string[] = [],
) {
  return {
    description,
    headers: headerRefs(...headers),
    content: { "application/json": { schema, ...(examples ? { examples } : {}) } },
  };
}

/** An error answer: the error envelope, its examples (named after their summaries) and headers. */
export function errorResponse(description: string, examples: Example[], headers: string[] = []): Response {
  const name = (example: Example, i: number) =>
    example.summary.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "").slice(0, 40) ||
    `example_${i + 1}`;
  return {
    description,
    headers: headerRefs(...headers),
    content: {
      "application/json": {
        schema: { $ref: "#/components/schemas/Error" },
        examples: Object.fromEntries(examples.map((example, i) => [name(example, i), example])),
      },
    },
  };
}

/** The error answers both functions give alike; a function's DocumentSpec adds (or overrides) the rest. */
const sharedResponses: Record<string, Response> = {
  PayloadTooLarge: errorResponse("The body is over 5 MiB.", [
    errorExample("Over 5 MiB", "PAYLOAD_TOO_LARGE", messages.payloadTooLarge),
  ]),
  UnsupportedMediaType: errorResponse(
    "A body that is not JSON, sent under a media type other than `application/json` (a JSON object body is read whatever the header says).",
    [
      errorExample("Not JSON", "UNSUPPORTED_MEDIA_TYPE", messages.unsupportedMediaType),
    ],
  ),
  ServerError: errorResponse("Unexpected failure; nothing about it is disclosed.", [
    errorExample("A bug", "SERVER_ERROR", messages.serverError),
  ]),
};

/** The error answers by status, as named in components.responses. */
const errorNames = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  413: "PayloadTooLarge",
  415: "UnsupportedMediaType",
  422: "UnprocessableContent",
  429: "RateLimited",
  500: "ServerError",
  503: "ServiceUnavailable",
} as const;

/** A reference to the error answer `name` of components.responses. */
export const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });

/** A route's `responses` entries for these statuses' error answers of components.responses. */
export function errorResponses<S extends keyof typeof errorNames>(...statuses: S[]): Record<S, Response> {
  return Object.fromEntries(statuses.map((status) => [status, responseRef(errorNames[status])])) as Record<S, Response>;
}
