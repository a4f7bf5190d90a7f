// The judge of the bad-input property: every answer is a success or an allowed 4xx, in the error
// envelope with X-Request-Id, within a deadline, and never shows a bcrypt hash. It tallies what it saw.
import { allowedStatuses, envelopeProblems, sleep } from "../support/properties.ts";

/** How long one case may take to be answered in full. */
export const caseDeadlineMs = 20_000;

export interface Case {
  method: string;
  path: string;
  headers: [string, string][];
  body: Uint8Array | null;
  /** Deliver the body in this many pieces, this many ms apart (a slow client). */
  trickle?: { pieces: number; gapMs: number };
}

export interface Outcome {
  status: number;
  problems: string[];
  ms: number;
}

/** What every judged answer added up to: statuses per group, the slowest answer, each failure described. */
export const verdicts = {
  statuses: {} as Record<string, Record<string, number>>,
  slowestMs: 0,
  failures: [] as string[],
};

/** Counts one answer of `group`; its problems, if any, become a failure naming the case. */
export function record(group: string, status: number, ms: number, problems: string[], description: string): void {
  verdicts.slowestMs = Math.max(verdicts.slowestMs, ms);
  (verdicts.statuses[group] ??= {})[status] = (verdicts.statuses[group]?.[status] ?? 0) + 1;
  if (problems.length) verdicts.failures.push(`${group}: ${problems.join("; ")} <- ${description}`);
}

export function describeCase(c: Case): string {
  const body = c.body ? new TextDecoder().decode(c.body.subarray(0, 300)) : "";
  return `${c.method} ${c.path} ${JSON.stringify(c.headers).slice(0, 300)} ${body}${
    c.body && c.body.length > 300 ? `… (${c.body.length} bytes)` : ""
  }`;
}

function bodyStream(body: Uint8Array, pieces: number, gapMs: number): ReadableStream<Uint8Array> {
  const size = Math.ceil(body.length / pieces) || 1;
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset >= body.length) return controller.close();
      if (offset > 0) await sleep(gapMs);
      controller.enqueue(body.subarray(offset, offset + size));
      offset += size;
    },
  });
}

export function toRequest(base: string, c: Case): Request {
  const headers = new Headers();
  for (const [name, value] of c.headers) headers.append(name, value);
  const canHaveBody = c.method !== "GET" && c.method !== "HEAD";
  const body = canHaveBody && c.body
    ? (c.trickle ? bodyStream(c.body, c.trickle.pieces, c.trickle.gapMs) : c.body)
    : undefined;
  return new Request(`${base}${c.path}`, { method: c.method, headers, body: body as BodyInit | undefined });
}

export async function judge(group: string, c: Case, send: () => Promise<Response>): Promise<Outcome> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${caseDeadlineMs} ms`)), caseDeadlineMs);
  });
  let status = 0;
  let problems: string[] = [];
  try {
    const response = await Promise.race([send(), deadline]);
    const text = await Promise.race([response.text(), deadline]);
    status = response.status;
    if (!allowedStatuses.has(status)) problems.push(`status ${status}`);
    if (c.method === "HEAD") {
      if (!response.headers.get("x-request-id")) problems.push("HEAD answer without X-Request-Id");
    } else {
      problems = problems.concat(envelopeProblems(status, response.headers, text));
    }
    if (/\$2[aby]\$|key_hash/.test(text)) problems.push("a bcrypt hash in the answer");
  } catch (error) {
    problems.push(`failed: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  const ms = Math.round(performance.now() - started);
  record(group, status, ms, problems, describeCase(c));
  return { status, problems, ms };
}
