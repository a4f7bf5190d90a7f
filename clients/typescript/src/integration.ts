// SalesOSClient: the default-integration function with an API key. The sync helpers take inputs of
// any size, send them in contract-sized batches (one after another) and add up the answers.
import { type Batch, batches } from "./batches.ts";
import { SalesOSApiError, SalesOSError } from "./errors.ts";
import { type RateLimit, Transport, type TransportOptions } from "./http.ts";
import { signedAuthorization } from "./signing.ts";
import type { Activity, Collaborator, ErrorDetail, SyncActivitiesResult, SyncCollaboratorsResult } from "./types.ts";

export const maxCollaboratorsPerRequest = 500;
export const maxActivitiesPerRequest = 1000;

export interface SalesOSClientOptions extends TransportOptions {
  /** `sk_live_…` or `sk_test_…`. */
  apiKey: string;
  /** A signed key's secret (64 hex characters): requests are then signed (P2S-SIGN-V1), never sent as Bearer. */
  secret?: string;
}

export interface SyncOptions {
  signal?: AbortSignal;
  /** Items per request, at most (and by default) the contract's maximum. */
  batchSize?: number;
}

export interface SyncActivitiesOptions extends SyncOptions {
  /**
   * The service refuses a whole batch of activities when any item is invalid. By default that 400
   * is thrown, its details' `index` mapped to positions in your input. With `skipInvalid`, the
   * batch is sent again without the invalid items, which are reported in `rejected` and `errors`.
   */
  skipInvalid?: boolean;
}

/** An input item the service did not accept. */
export interface RejectedItem {
  /**
   * Position in your input. Collaborator errors carry no index in the contract: they are matched,
   * in order, by external_id and email; null when no item matches.
   */
  index: number | null;
  reason: string;
  /** Per-field reasons (activities). */
  details?: ErrorDetail[];
}

export interface BatchReport<Result> {
  /** Position of the batch's first item in your input. */
  offset: number;
  size: number;
  result: Result;
  rejected: RejectedItem[];
  /** `X-Request-Id` of each request the batch took (two when invalid items were left out). */
  requestIds: string[];
}

export type SyncCollaboratorsSummary = SyncCollaboratorsResult & { rejected: RejectedItem[]; batches: number };
export type SyncActivitiesSummary = SyncActivitiesResult & { rejected: RejectedItem[]; batches: number };

function batchSize(requested: number | undefined, max: number): number {
  if (requested === undefined) return max;
  if (!Number.isInteger(requested) || requested < 1 || requested > max) {
    throw new RangeError(`batchSize must be an integer from 1 to ${max}`);
  }
  return requested;
}

/** The longest echo of a field in the service's item errors: a longer value is cut there, with "…". */
const maxEcho = 320;

/** The service's own rendering of an item in an error string (`Collaborator <external_id> (<email>): …`). */
function fieldText(item: unknown, name: string): string {
  const value = item !== null && typeof item === "object" ? (item as Record<string, unknown>)[name] : undefined;
  const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
  const characters = [...text];
  return characters.length <= maxEcho ? text : `${characters.slice(0, maxEcho).join("")}…`;
}

/**
 * Maps each error string of a collaborators answer to its item: both are in item order. When two
 * items still ahead render alike (the same external_id and email), which one was refused cannot be
 * told: the index is null rather than a guess.
 */
function rejectedCollaborators(batch: Batch<Collaborator>, errors: string[]): RejectedItem[] {
  let next = 0;
  return errors.map((reason) => {
    const matching: number[] = [];
    for (let i = next; i < batch.items.length && matching.length < 2; i++) {
      const item = batch.items[i];
      if (reason.startsWith(`Collaborator ${fieldText(item, "external_id")} (${fieldText(item, "email")}): `)) {
        matching.push(i);
      }
    }
    if (matching.length === 0) return { index: null, reason };
    next = matching[0] + 1; // later errors are of later items, whichever this one is
    return { index: matching.length === 1 ? batch.offset + matching[0] : null, reason };
  });
}

function addCounts<R extends object>(sum: R, add: R): void {
  for (const [name, value] of Object.entries(add)) {
    const totals = sum as Record<string, unknown>;
    if (typeof value === "number") totals[name] = ((totals[name] as number | undefined) ?? 0) + value;
    else if (Array.isArray(value)) (totals[name] as unknown[]).push(...value);
  }
}

export class SalesOSClient {
  readonly #transport: Transport;

  constructor(options: SalesOSClientOptions) {
    if (!options.apiKey) throw new TypeError("apiKey is required");
    const { apiKey, secret } = options;
    this.#transport = new Transport(
      options,
      () => apiKey,
      secret ? (method, path, body) => signedAuthorization({ apiKey, secret, method, path, body }) : undefined,
    );
  }

  /** `X-RateLimit-Limit`, `-Remaining` and `-Reset` of the last response; null before any or after a 401. */
  get rateLimit(): RateLimit | null {
    return this.#transport.rateLimit;
  }

  #post<T>(action: string, field: string, json: string[], signal?: AbortSignal) {
    // The items were serialized once to size the batch; the body reuses that text.
    const body = `{"action":"${action}","${field}":[${json.join(",")}]}`;
    // One key per batch, the same on each of its retries: the service applies a batch once, and a
    // late retry of an old batch cannot overwrite what a newer one wrote.
    const headers = { "Idempotency-Key": crypto.randomUUID() };
    return this.#transport.request<T>("POST", "/default-integration", { body, headers, idempotent: true, signal });
  }

  /** One report per request-sized batch, each sent after the previous one was answered. */
  async *syncCollaboratorsInBatches(
    items: Iterable<Collaborator> | AsyncIterable<Collaborator>,
    options: SyncOptions = {},
  ): AsyncGenerator<BatchReport<SyncCollaboratorsResult>> {
    const size = batchSize(options.batchSize, maxCollaboratorsPerRequest);
    for await (const batch of batches(items, size)) {
      const answer = await this.#post<SyncCollaboratorsResult>(
        "sync_collaborators",
        "collaborators",
        batch.json,
        options.signal,
      );
      yield {
        offset: batch.offset,
        size: batch.items.length,
        result: answer.data,
        rejected: rejectedCollaborators(batch, answer.data.errors),
        requestIds: answer.requestId ? [answer.requestId] : [],
      };
    }
  }

  /** One report per request-sized batch, each sent after the previous one was answered. */
  async *syncActivitiesInBatches(
    items: Iterable<Activity> | AsyncIterable<Activity>,
    options: SyncActivitiesOptions = {},
  ): AsyncGenerator<BatchReport<SyncActivitiesResult>> {
    const size = batchSize(options.batchSize, maxActivitiesPerRequest);
    for await (const batch of batches(items, size)) {
      yield await this.#sendActivities(batch, options);
    }
  }

  async #sendActivities(
    batch: Batch<Activity>,
    options: SyncActivitiesOptions,
  ): Promise<BatchReport<SyncActivitiesResult>> {
    // Positions (in the batch) of the items still to send: all, until a 400 names invalid ones.
    let positions = batch.items.map((_, i) => i);
    const rejected: RejectedItem[] = [];
    const requestIds: string[] = [];
    let counts = { processed: 0, skipped: 0, duplicates: 0 };
    while (positions.length > 0) {
      try {
        const answer = await this.#post<SyncActivitiesResult>(
          "sync_activities",
          "activities",
          positions.map((i) => batch.json[i]),
          options.signal,
        );
        if (answer.requestId) requestIds.push(answer.requestId);
        const { processed, skipped, duplicates } = answer.data;
        counts = { processed, skipped, duplicates };
        break;
      } catch (error) {
        const itemErrors = error instanceof SalesOSApiError && error.status === 400 && error.details.length > 0 &&
          error.details.every((d) => Number.isInteger(d.index) && d.index! >= 0 && d.index! < positions.length);
        if (!itemErrors) throw error;
        const toInput = (d: ErrorDetail) => ({ ...d, index: batch.offset + positions[d.index!] });
        if (!options.skipInvalid) {
          throw new SalesOSApiError({
            status: error.status,
            code: error.code,
            message: error.message,
            details: error.details.map(toInput),
            requestId: error.requestId,
          });
        }
        if (error.requestId) requestIds.push(error.requestId);
        // One rejection per item, with every invalid field of it.
        const byIndex = new Map<number, ErrorDetail[]>();
        for (const detail of error.details.map(toInput)) {
          byIndex.set(detail.index, [...(byIndex.get(detail.index) ?? []), detail]);
        }
        for (const [index, details] of byIndex) {
          const item = batch.items[index - batch.offset];
          const reasons = details.map((d) => `${d.field}: ${d.message}`).join("; ");
          rejected.push({
            index,
            reason: `Activity ${fieldText(item, "external_id")} (${fieldText(item, "collaborator_email")}): ${reasons}`,
            details,
          });
        }
        positions = positions.filter((p) => !byIndex.has(batch.offset + p));
      }
    }
    rejected.sort((a, b) => a.index! - b.index!);
    return {
      offset: batch.offset,
      size: batch.items.length,
      result: { ...counts, errors: rejected.map((r) => r.reason), total: batch.items.length },
      rejected,
      requestIds,
    };
  }

  /**
   * Sends any number of collaborators in batches of up to 500 and adds up the answers. On a
   * failure the error's `progress` says how many items were answered before it.
   */
  syncCollaborators(
    items: Iterable<Collaborator> | AsyncIterable<Collaborator>,
    options: SyncOptions = {},
  ): Promise<SyncCollaboratorsSummary> {
    const summary: SyncCollaboratorsSummary = {
      created: 0,
      existing: 0,
      errors: [],
      total: 0,
      rejected: [],
      batches: 0,
    };
    return this.#sum(this.syncCollaboratorsInBatches(items, options), summary);
  }

  /**
   * Sends any number of activities in batches of up to 1000 and adds up the answers. On a failure
   * the error's `progress` says how many items were answered before it.
   */
  syncActivities(
    items: Iterable<Activity> | AsyncIterable<Activity>,
    options: SyncActivitiesOptions = {},
  ): Promise<SyncActivitiesSummary> {
    const summary: SyncActivitiesSummary = {
      processed: 0,
      skipped: 0,
      duplicates: 0,
      errors: [],
      total: 0,
      rejected: [],
      batches: 0,
    };
    return this.#sum(this.syncActivitiesInBatches(items, options), summary);
  }

  async #sum<R extends object, S extends R & { rejected: RejectedItem[]; batches: number }>(
    reports: AsyncGenerator<BatchReport<R>>,
    summary: S,
  ): Promise<S> {
    let completedItems = 0;
    try {
      for await (const report of reports) {
        addCounts(summary, report.result);
        summary.rejected.push(...report.rejected);
        summary.batches++;
        completedItems = report.offset + report.size;
      }
    } catch (error) {
      if (error instanceof SalesOSError) error.progress = { completedItems, result: summary };
      throw error;
    }
    return summary;
  }
}
