// Traces and metrics through Deno's built-in OpenTelemetry (OTEL_DENO=true; docs/operations.md):
// spans for a request, its authentication and each SQL statement, and request counts and latency.
// Deno registers its providers with @opentelemetry/api; without OTEL_DENO every call here is a
// no-op of a few object allocations.
import { type Attributes, metrics, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { apiVersion } from "./version.ts";

const tracer = trace.getTracer("salesos", apiVersion);
const meter = metrics.getMeter("salesos", apiVersion);

export const requestCounter = meter.createCounter("salesos.requests", {
  description: "Requests answered, by function and HTTP status.",
});
export const requestDuration = meter.createHistogram("salesos.request.duration", {
  description: "Time from a request's arrival to its answer, by function.",
  unit: "s",
});

/** Runs `work` in a span named `name` (the active span while it runs), marked as an error when it throws. */
export function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : "error" });
      throw error;
    } finally {
      span.end();
    }
  });
}
