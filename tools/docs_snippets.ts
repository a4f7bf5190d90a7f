// The TypeScript (the client in clients/typescript) and Python (requests) snippets the API reference
// page shows beside curl for each operation, from the request Swagger UI builds. Each function is
// self-contained: tools/docs.ts puts its source into the page as is.

/** The request as Swagger UI's snippet generators see it (made plain). */
export interface SnippetRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** The operation with the client: `SalesOSClient` (sync) or `SalesOSKeysClient` (api-keys); else fetch. */
export function typescriptSnippet(request: SnippetRequest): string {
  // The credential comes from the environment, never from the page.
  const secretVariable = (path: string) => path.includes("/api-keys") ? "SALESOS_DASHBOARD_TOKEN" : "SALESOS_API_KEY";
  const url = new URL(request.url, "http://127.0.0.1:54321");
  const parts = url.pathname.replace(/^.*\/functions\/v1\//, "").split("/").filter(Boolean);
  const base = url.origin === "null" ? "http://127.0.0.1:54321" : url.origin;
  const method = request.method.toUpperCase();
  let body: unknown;
  try {
    body = request.body ? JSON.parse(request.body) : undefined;
  } catch {
    body = undefined;
  }
  const json = (value: unknown) => JSON.stringify(value, null, 2).replace(/\n/g, "\n  ");
  const query = Object.fromEntries(url.searchParams);
  const importing = (names: string) => `import { ${names} } from "@salesos/integration-client";\n\n`;
  const [fn, id, sub] = parts;
  const action = (body as { action?: string } | undefined)?.action;
  if (fn === "default-integration" && method === "POST" && parts.length === 1) {
    const items = action === "sync_activities"
      ? (body as { activities?: unknown }).activities
      : (body as { collaborators?: unknown } | undefined)?.collaborators;
    const call = action === "sync_activities" ? "syncActivities" : "syncCollaborators";
    return `${importing("SalesOSApiError, SalesOSClient")}const client = new SalesOSClient({
  apiKey: process.env.SALESOS_API_KEY!, // sk_live_… or sk_test_…
  baseUrl: "${base}",
});
try {
  const result = await client.${call}(${json(items ?? [])});
  console.log(result);
} catch (error) {
  if (error instanceof SalesOSApiError) console.error(error.status, error.code, error.message, error.requestId);
  else throw error;
}
`;
  }
  if (fn === "api-keys") {
    const keys = `${importing("SalesOSKeysClient")}const keys = new SalesOSKeysClient({
  baseUrl: "${base}",
  accessToken: process.env.SALESOS_DASHBOARD_TOKEN!, // the Dashboard user's Supabase access token
});
`;
    const q = Object.keys(query).length ? json(query) : "";
    const call = (() => {
      if (parts.length === 1 && method === "POST") return `keys.create(${json(body ?? {})})`;
      if (parts.length === 1 && method === "GET") return `keys.list(${q})`;
      if (id === "audit" && method === "GET") return `keys.audit(${q})`;
      if (id === "openapi.json") return null;
      if (parts.length === 2 && method === "GET") return `keys.get("${id}")`;
      if (parts.length === 2 && method === "PATCH") return `keys.update("${id}", ${json(body ?? {})})`;
      if (parts.length === 2 && method === "DELETE") return `keys.delete("${id}")`;
      if (sub === "revoke") return `keys.revoke("${id}")`;
      if (sub === "rotate") {
        const grace = (body as { grace_period_seconds?: number } | undefined)?.grace_period_seconds;
        return `keys.rotate("${id}"${grace === undefined ? "" : `, { gracePeriodSeconds: ${grace} }`})`;
      }
      if (sub === "usage") return `keys.usage("${id}"${q ? `, ${q}` : ""})`;
      if (sub === "requests") return `keys.requests("${id}"${q ? `, ${q}` : ""})`;
      return null;
    })();
    if (call) return `${keys}console.log(await ${call});\n`;
  }
  const headers = Object.entries(request.headers).map(([name, value]) =>
    /^authorization$/i.test(name)
      ? `    ${JSON.stringify(name)}: \`Bearer \${process.env.${secretVariable(url.pathname)}}\`,`
      : `    ${JSON.stringify(name)}: ${JSON.stringify(value)},`
  );
  return `const response = await fetch("${url.href}", {
  method: "${method}",${headers.length ? `\n  headers: {\n${headers.join("\n")}\n  },` : ""}${
    request.body ? `\n  body: ${JSON.stringify(request.body)},` : ""
  }
});
console.log(response.status, await response.json());
`;
}

/** The operation with Python's requests: the same method, URL, headers and JSON body. */
export function pythonSnippet(request: SnippetRequest): string {
  const secretVariable = (path: string) => path.includes("/api-keys") ? "SALESOS_DASHBOARD_TOKEN" : "SALESOS_API_KEY";
  const method = request.method.toLowerCase();
  const variable = secretVariable(new URL(request.url, "http://127.0.0.1:54321").pathname);
  const headers = Object.entries(request.headers).map(([name, value]) => {
    const secret = /^authorization$/i.test(name);
    return `        ${JSON.stringify(name)}: ${
      secret ? `"Bearer " + os.environ["${variable}"]` : JSON.stringify(value)
    },`;
  });
  let body = "";
  if (request.body) {
    try {
      // JSON reads as a Python literal once true/false/null are spelled the Python way.
      const literal = JSON.stringify(JSON.parse(request.body), null, 4)
        .replace(
          /\b(true|false|null)\b(?=(?:[^"\\]|\\.|"(?:[^"\\]|\\.)*")*$)/g,
          (word) => ({ true: "True", false: "False", null: "None" })[word as "true" | "false" | "null"],
        );
      body = `\n    json=${literal.replace(/\n/g, "\n    ")},`;
    } catch {
      body = `\n    data=${JSON.stringify(request.body)},`;
    }
  }
  return `import os
import requests

response = requests.${method}(
    ${JSON.stringify(request.url)},
    headers={
${headers.join("\n")}
    },${body}
    timeout=60,
)
print(response.status_code, response.json())
`;
}
