// `GET /metrics` of the local server, in the Prometheus text format (prom-client): requests by
// function and status and their latency, read from the request log lines as they are made (so
// counted even with LOG_REQUESTS=false), the key verifier's bcrypt compares and the connection
// front's closings. Local only: the
// server listens on 127.0.0.1; hosted functions export through Deno's OpenTelemetry instead
// (docs/operations.md).
import type { LogSink } from "../supabase/functions/_shared/http.ts";
import type { ConnectionFront } from "./connection_front.ts";
import { onFirstUse } from "./on_first_use.ts";

/** Upper bounds of the latency buckets, in seconds: a small batch takes milliseconds, a bulk one seconds. */
const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface Metrics {
  /** Counts one request from its log line. */
  record: LogSink;
  /** The current figures, as Prometheus scrapes them. */
  response(): Promise<Response>;
}

const loadDelayMs = 1_000;

/**
 * Loading prom-client and its Node modules holds this thread ~25 ms: not at the server's start nor
 * amid its first requests, but `loadDelayMs` after its first line, or with the first GET /metrics.
 * The lines before are counted once it is loaded.
 */
export function createMetrics(
  source: { readonly bcryptCompares: number },
  connections: () => ConnectionFront["stats"],
): Metrics {
  const early: Parameters<LogSink>[0][] = [];
  let record: LogSink | undefined;
  let scheduled = false;
  const loaded = onFirstUse(async () => {
    const metrics = promMetrics(await import("prom-client"), source, connections);
    for (const line of early.splice(0)) metrics.record(line);
    record = metrics.record;
    return metrics;
  });
  return {
    record(line) {
      if (record) return record(line);
      early.push(line);
      if (scheduled) return;
      scheduled = true;
      const timer = setTimeout(() => {
        // A failed load is tried again after the next line, or by GET /metrics (which answers its
        // error); the lines held meanwhile are dropped, so they cannot pile up.
        loaded().catch(() => {
          early.length = 0;
          scheduled = false;
        });
      }, loadDelayMs);
      Deno.unrefTimer(timer);
    },
    response: () => loaded().then((metrics) => metrics.response()),
  };
}

function promMetrics(
  { Counter, Histogram, Registry }: typeof import("prom-client"),
  source: { readonly bcryptCompares: number },
  connections: () => ConnectionFront["stats"],
): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: "salesos_requests_total",
    help: "Requests answered, by function and HTTP status.",
    labelNames: ["function", "status"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "salesos_request_duration_seconds",
    help: "Time from a request's arrival to its answer, by function.",
    labelNames: ["function"] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });
  new Counter({
    name: "salesos_bcrypt_compares_total",
    help: "bcrypt compares the key verifier has run (unknown key ids and remembered wrong secrets cost none).",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.bcryptCompares);
    },
  });
  new Counter({
    name: "salesos_connection_events_total",
    help: "Connections closed by the server (evicted at the cap, refused, idle past the timeout, request past " +
      "the timeout) and accept errors, by event.",
    labelNames: ["event"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [event, count] of Object.entries(connections())) this.inc({ event }, count);
    },
  });
  return {
    record(line) {
      const fn = String(line.function);
      requests.inc({ function: fn, status: String(line.status) });
      latency.observe({ function: fn }, Number(line.latency_ms) / 1000);
    },
    async response() {
      return new Response(await registry.metrics(), { headers: { "Content-Type": registry.contentType } });
    },
  };
}
