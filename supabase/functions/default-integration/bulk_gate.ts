// Fairness between clients of one instance, in memory, decided after authentication and before the
// body is read:
// - a bulk request (a body announced over `bulkThresholdBytes`, or one of unknown length once that
//   much of it arrived) counts against its key's and its tenant's concurrency; over either, 429
//   RATE_LIMITED with a short retry_after;
// - a large body (announced over `pacedThresholdBytes`, or of unknown length) reserves room in a
//   budget of bytes being read and parsed at once (its announced length, or 5 MiB when unknown); a
//   request that finds no room waits, in order, up to `bodyWaitMs`, then gets 503 with Retry-After.
//   A body of unknown length that ends within `pacedThresholdBytes` gives its room back once read
//   and goes on as a small one;
// - the CPU work of large bodies (parsing, validating, writing their rows) runs in slices, one such
//   slice at a time in the instance;
// - while small requests are being served, large bodies that have arrived go on one at a time, in
//   order, from their first slice to the end of their database call (reading bodies still overlaps:
//   a slow upload holds no one up); a wait past `bodyWaitMs` is 503 with Retry-After. Each slice and
//   each database call is then followed by a pause `pauseRatio` times its length before the next
//   slice, so large bodies take about 1/(1 + pauseRatio) of the thread and of Postgres from small
//   requests, and never both cores.
import { ApiError, messages } from "../_shared/errors.ts";
import { maxBodyBytes } from "../_shared/http.ts";
import { inline, type Slicer } from "./slicing.ts";

export interface BulkLimits {
  /** A body announced over this many bytes, or of unknown length, is paced and counted in the byte budget. */
  pacedThresholdBytes: number;
  /** A body announced over this many bytes is bulk: it counts against the concurrency limits. */
  bulkThresholdBytes: number;
  /** Bulk requests of one API key in progress at once. */
  maxBulkPerKey: number;
  /** Bulk requests of one tenant in progress at once. */
  maxBulkPerTenant: number;
  /** Bytes of bodies being read and parsed at once, in the instance. */
  bodyBudgetBytes: number;
  /** How long a request waits for room in the budget, or for its turn after its body arrived, before it gets 503. */
  bodyWaitMs: number;
  /** Pause after a large body's slice or database call, as a multiple of its time, while small requests are served. */
  pauseRatio: number;
}

export const defaultBulkLimits: BulkLimits = {
  pacedThresholdBytes: 64 * 1024,
  bulkThresholdBytes: 1024 * 1024,
  maxBulkPerKey: 2,
  maxBulkPerTenant: 4,
  bodyBudgetBytes: 24 * 1024 * 1024,
  bodyWaitMs: 10_000,
  pauseRatio: 3,
};

/** Seconds a client waits after a concurrency 429 or a full body budget (503). */
export const retryAfterConcurrentSeconds = 1;

export const concurrencyMessages = {
  key: "Too many concurrent requests for this API key",
  tenant: "Too many concurrent requests for this tenant",
} as const;

/** How long a slice of bulk work may run before it lets other work in. */
const sliceMs = 4;
/** Small requests seen this recently make bulk slices pause. */
const foregroundWindowMs = 200;

/** A request waiting in a line of the gate: `go` lets it in. */
interface Waiter {
  go: () => void;
}

/** An admitted request: its CPU work runs through the Slicer (in slices when bulk); `release` when done. */
export interface Admitted extends Slicer {
  /** Counted against the concurrency limits (a body of unknown length: once it passed bulkThresholdBytes). */
  readonly bulk: boolean;
  /**
   * Paced and budgeted: announced over pacedThresholdBytes, or of unknown length and not read to an
   * end within it (final once the body is read, which comes before any slice).
   */
  readonly large: boolean;
  /**
   * `request` with its body read through the gate: one of unknown length (chunked) counts as bulk
   * once more than `bulkThresholdBytes` of it arrived, and reading it fails with the 429 when over
   * the key's or tenant's concurrency. Other requests are returned as they are.
   */
  counted(request: Request): Request;
  /**
   * Runs the request's database call. For a large body while small requests are being served, the
   * next slice of any large body then waits `pauseRatio` times as long as the call took, so large
   * bodies' Postgres work is paced like their CPU work.
   */
  paced<R>(call: () => Promise<R>): Promise<R>;
  release(): void;
}

export class BulkGate {
  readonly limits: BulkLimits;
  #perKey = new Map<string, number>();
  #perTenant = new Map<string, number>();
  #bytesInUse = 0;
  #waiting: (Waiter & { bytes: number })[] = [];
  #cpuBusy = false;
  #cpuQueue: (() => void)[] = [];
  #lastForeground = -Infinity;
  /** Large bodies past their reading and not yet released: while small requests are served, at most one goes on. */
  #going = 0;
  #turns: Waiter[] = [];
  #turnTimer: ReturnType<typeof setTimeout> | undefined;
  /** Figures for tests and logs. */
  readonly stats = { refusedKey: 0, refusedTenant: 0, refusedBudget: 0, waited: 0, peakBytesInUse: 0 };

  constructor(limits: Partial<BulkLimits> = {}) {
    this.limits = { ...defaultBulkLimits, ...limits };
  }

  get bytesInUse(): number {
    return this.#bytesInUse;
  }

  /** Whether a body announced with this Content-Length (null: none) is paced and counted in the byte budget. */
  isPaced(announced: number | null): boolean {
    return announced === null || announced > this.limits.pacedThresholdBytes;
  }

  /** Whether a body announced with this Content-Length (null: none) counts against the concurrency limits. */
  isBulk(announced: number | null): boolean {
    return announced !== null && announced > this.limits.bulkThresholdBytes;
  }

  /**
   * Admits a request of `principal` whose body is announced as `announced` bytes (null: unknown),
   * or throws 429 (concurrency) / 503 (no room for its body in time). Call `release` when done.
   */
  async admit(principal: { keyId: string; tenantId: string }, announced: number | null): Promise<Admitted> {
    if (!this.isPaced(announced)) {
      this.#lastForeground = performance.now();
      return {
        ...inline,
        bulk: false,
        large: false,
        counted: (request) => request,
        paced: (call) => call(),
        release: () => {},
      };
    }
    const { keyId, tenantId } = principal;
    let bulk = this.isBulk(announced);
    if (bulk) this.#countBulk(principal);
    const uncount = () => {
      if (!bulk) return;
      increment(this.#perKey, keyId, -1);
      increment(this.#perTenant, tenantId, -1);
    };
    const bytes = Math.min(announced ?? maxBodyBytes, maxBodyBytes);
    try {
      await this.#reserve(bytes);
    } catch (error) {
      uncount();
      throw error;
    }
    let released = false;
    let going = false;
    let large = true;
    let reserved = bytes;
    const giveBack = () => {
      this.#free(reserved);
      reserved = 0;
    };
    /** `work` after this request's turn, which its first slice waits for. */
    const inTurn = async <R>(work: () => Promise<R>): Promise<R> => {
      if (!going) {
        await this.#turn();
        going = true;
      }
      return await work();
    };
    const threshold = this.limits.bulkThresholdBytes;
    return {
      get bulk() {
        return bulk;
      },
      get large() {
        return large;
      },
      eachSliced: (items, step) => large ? inTurn(() => this.#eachSliced(items, step)) : inline.eachSliced(items, step),
      slice: (fn) => large ? inTurn(() => this.#slice(fn)) : inline.slice(fn),
      paced: (call) => large ? inTurn(() => this.#paced(call)) : call(),
      counted: (request) => {
        if (announced !== null || !request.body) return request;
        let seen = 0;
        const counting = new TransformStream<Uint8Array, Uint8Array>({
          transform: (chunk, controller) => {
            seen += chunk.byteLength;
            // Thrown here, the 429 is what reading the body rejects with.
            if (!bulk && !released && seen > threshold) {
              this.#countBulk(principal);
              bulk = true;
            }
            controller.enqueue(chunk);
          },
          // Read to its end within the threshold: a small body after all, served as one.
          flush: () => {
            if (seen > this.limits.pacedThresholdBytes) return;
            large = false;
            this.#lastForeground = performance.now();
            giveBack();
          },
        });
        const { method, headers, url } = request;
        return new Request(
          url,
          { method, headers, body: request.body.pipeThrough(counting), duplex: "half" } as RequestInit,
        );
      },
      release: () => {
        if (released) return;
        released = true;
        uncount();
        giveBack();
        if (going) {
          this.#going--;
          this.#nextTurns();
        }
      },
    };
  }

  /** Counts a bulk request against its key's and tenant's concurrency, or throws 429. */
  #countBulk({ keyId, tenantId }: { keyId: string; tenantId: string }) {
    const retry = { retryAfter: retryAfterConcurrentSeconds };
    if ((this.#perKey.get(keyId) ?? 0) >= this.limits.maxBulkPerKey) {
      this.stats.refusedKey++;
      throw new ApiError("RATE_LIMITED", concurrencyMessages.key, retry);
    }
    if ((this.#perTenant.get(tenantId) ?? 0) >= this.limits.maxBulkPerTenant) {
      this.stats.refusedTenant++;
      throw new ApiError("RATE_LIMITED", concurrencyMessages.tenant, retry);
    }
    increment(this.#perKey, keyId, 1);
    increment(this.#perTenant, tenantId, 1);
  }

  #reserve(bytes: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#bytesInUse + bytes <= this.limits.bodyBudgetBytes) {
      this.#take(bytes);
      return Promise.resolve();
    }
    this.stats.waited++;
    return this.#waitInLine(this.#waiting, { bytes }, () => {
      this.stats.refusedBudget++;
      this.#wake();
    });
  }

  /**
   * Waits in `line` until let in (`go`), or after `bodyWaitMs` leaves it and, once `left` has run
   * (a count, letting the next ones in), rejects with 503 and Retry-After.
   */
  #waitInLine<T extends object>(line: (Waiter & T)[], fields: T, left: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter & T = {
        ...fields,
        go: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        line.splice(line.indexOf(waiter), 1);
        left();
        reject(
          new ApiError("SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retryAfter: retryAfterConcurrentSeconds }),
        );
      }, this.limits.bodyWaitMs);
      line.push(waiter);
    });
  }

  #contended(): boolean {
    return performance.now() - this.#lastForeground < foregroundWindowMs;
  }

  #take(bytes: number) {
    this.#bytesInUse += bytes;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.#bytesInUse);
  }

  #free(bytes: number) {
    this.#bytesInUse -= bytes;
    this.#wake();
  }

  /** Admits waiters in order while the first one fits. */
  #wake() {
    while (this.#waiting.length > 0 && this.#bytesInUse + this.#waiting[0].bytes <= this.limits.bodyBudgetBytes) {
      const waiter = this.#waiting.shift()!;
      this.#take(waiter.bytes);
      waiter.go();
    }
  }

  /**
   * A large body's turn to go on, after its reading: at once unless small requests are being served
   * and another one is going; then in order, up to `bodyWaitMs` (503).
   */
  #turn(): Promise<void> {
    if (this.#turns.length === 0 && (this.#going === 0 || !this.#contended())) {
      this.#going++;
      return Promise.resolve();
    }
    const waiting = this.#waitInLine(this.#turns, {}, () => this.#nextTurns());
    this.#nextTurns();
    return waiting;
  }

  /**
   * Gives turns in order while one may go on; those held back only by small requests are looked at
   * again when the small requests' window ends (no release may come before then).
   */
  #nextTurns() {
    while (this.#turns.length > 0 && (this.#going === 0 || !this.#contended())) {
      this.#going++;
      this.#turns.shift()!.go();
    }
    clearTimeout(this.#turnTimer);
    this.#turnTimer = this.#turns.length === 0 ? undefined : setTimeout(
      () => this.#nextTurns(),
      Math.max(0, this.#lastForeground + foregroundWindowMs - performance.now()),
    );
  }

  /** One bulk slice at a time; after it, a pause while small requests are being served. */
  async #slice<R>(fn: () => R | Promise<R>): Promise<R> {
    await this.#acquireCpu();
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.#releaseCpu(performance.now() - started);
    }
  }

  async #eachSliced<T>(items: readonly T[], step: (item: T, index: number) => void): Promise<void> {
    let index = 0;
    while (index < items.length) {
      await this.#slice(() => {
        const until = performance.now() + sliceMs;
        do step(items[index], index); while (++index < items.length && performance.now() < until);
      });
    }
  }

  async #paced<R>(call: () => Promise<R>): Promise<R> {
    const started = performance.now();
    try {
      return await call();
    } finally {
      // The pause is taken in the line of slices; the answer does not wait for it.
      const tookMs = performance.now() - started;
      if (this.#contended()) this.#acquireCpu().then(() => this.#releaseCpu(tookMs));
    }
  }

  #acquireCpu(): Promise<void> {
    if (!this.#cpuBusy) {
      this.#cpuBusy = true;
      // Still a macrotask boundary: I/O and timers of other requests run between slices.
      return new Promise((resolve) => setTimeout(resolve, 0));
    }
    return new Promise((resolve) => this.#cpuQueue.push(resolve));
  }

  #releaseCpu(tookMs: number) {
    const pause = this.#contended() ? Math.min(tookMs * this.limits.pauseRatio, 200) : 0;
    setTimeout(() => {
      const next = this.#cpuQueue.shift();
      if (next) next();
      else this.#cpuBusy = false;
    }, pause);
  }
}

function increment(map: Map<string, number>, id: string, by: number) {
  const value = (map.get(id) ?? 0) + by;
  if (value <= 0) map.delete(id);
  else map.set(id, value);
}
