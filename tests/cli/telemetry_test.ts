// What an operator sees of `deno task start`: GET /metrics in the Prometheus text format, and with
// OTEL_DENO=true the spans and metrics Deno's OpenTelemetry exports over OTLP, captured here by a
// tiny OTLP/HTTP (JSON) receiver.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { unknownKey } from "../support/fixtures.ts";

interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

/** An OTLP/HTTP receiver: every JSON body posted to /v1/traces or /v1/metrics is kept. */
function otlpReceiver() {
  const traces: unknown[] = [];
  const metrics: unknown[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const body = await request.json();
    const path = new URL(request.url).pathname;
    if (path === "/v1/traces") traces.push(body);
    if (path === "/v1/metrics") metrics.push(body);
    return Response.json({});
  });
  const spans = () =>
    (traces as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }[]).flatMap((t) =>
      t.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))
    );
  const metricNames = (): string[] => JSON.stringify(metrics).match(/"name":"[^"]+"/g) ?? [];
  return { url: `http://127.0.0.1:${server.addr.port}`, spans, metricNames, close: () => server.shutdown() };
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  // OTLP JSON holds an int as a number or a string: compared as text.
  return value && String(Object.values(value)[0]);
};

async function until<T>(what: string, get: () => T | undefined): Promise<T> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    const value = get();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not received within 30 s`);
}

Deno.test("operators' view of the local server", async (t) => {
  await using test = await freshDatabase();
  const key = await createKey(test.db, await createTenant(test.db));
  const receiver = otlpReceiver();
  await using server = await startServer(serverEnv(test.url, {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_SERVICE_NAME: "salesos-test",
    OTEL_DENO_CONSOLE: "ignore",
    OTEL_METRIC_EXPORT_INTERVAL: "500",
  }));
  const post = (token: string, body: unknown) =>
    fetch(`${server.baseUrl}/functions/v1/default-integration`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  const synced = await post(key.key, {
    action: "sync_collaborators",
    collaborators: [{ external_id: "emp-1", name: "Ana", email: "ana@example.com" }],
  });
  assert.equal(synced.status, 200);
  const requestId = synced.headers.get("x-request-id");
  await synced.body?.cancel();
  const refused = await post(unknownKey(), { action: "sync_activities", activities: [] });
  assert.equal(refused.status, 401);
  await refused.body?.cancel();

  await t.step("GET /metrics: requests by function and status, latency histogram, bcrypt compares", async () => {
    const res = await fetch(`${server.baseUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE salesos_requests_total counter$/m);
    assert.match(text, /^salesos_requests_total\{function="default-integration",status="200"\} 1$/m);
    assert.match(text, /^salesos_requests_total\{function="default-integration",status="401"\} 1$/m);
    assert.match(text, /^# TYPE salesos_request_duration_seconds histogram$/m);
    assert.match(text, /^salesos_request_duration_seconds_count\{function="default-integration"\} 2$/m);
    assert.match(text, /^salesos_request_duration_seconds_bucket\{le="\+Inf",function="default-integration"\} 2$/m);
    assert.match(text, /^salesos_bcrypt_compares_total 1$/m, "one compare: the valid key; the unknown id costs none");
  });

  await t.step("OTEL_DENO=true: a request's span, with its auth and SQL spans as children", async () => {
    const request = await until(
      "the request span",
      () =>
        receiver.spans().find((s) =>
          s.name === "default-integration request" && attribute(s, "salesos.request_id") === requestId
        ),
    );
    assert.equal(attribute(request, "http.response.status_code"), "200");
    assert.equal(attribute(request, "salesos.action"), "sync_collaborators");
    const children = await until("its children", () => {
      const found = receiver.spans().filter((s) => s.parentSpanId === request.spanId);
      return found.some((s) => s.name === "sql sync_collaborators") ? found : undefined;
    });
    const auth = children.find((s) => s.name === "auth");
    assert.ok(auth, JSON.stringify(children.map((s) => s.name)));
    assert.ok(children.every((s) => s.traceId === request.traceId));
    const admission = receiver.spans().find((s) => s.parentSpanId === auth.spanId && s.name === "sql admit_request");
    assert.ok(admission, "the admission's SQL inside the auth span");
    assert.equal(attribute(admission, "db.system.name"), "postgresql");
    // Deno's own HTTP server span is the request span's parent: one trace from the socket down.
    const http = receiver.spans().find((s) => s.spanId === request.parentSpanId);
    assert.ok(http, "Deno.serve's span");

    const unauthorized = receiver.spans().find((s) =>
      s.name === "default-integration request" && attribute(s, "http.response.status_code") === "401"
    );
    assert.equal(unauthorized && attribute(unauthorized, "error.type"), "UNAUTHORIZED");
    assert.ok(!JSON.stringify(receiver.spans()).includes(key.key.slice(16)), "no secret in a span");
  });

  await t.step("OTEL_DENO=true: request counts and latency as OTLP metrics", async () => {
    const names = await until("the metrics", () => {
      const found = receiver.metricNames();
      return found.includes('"name":"salesos.request.duration"') ? found : undefined;
    });
    assert.ok(names.includes('"name":"salesos.requests"'), names.join());
  });

  await server.stop();
  await receiver.close();
});
