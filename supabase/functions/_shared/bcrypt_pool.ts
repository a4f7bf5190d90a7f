// bcrypt off the request thread: a small pool of Deno Web Workers (bcrypt_worker.ts), one job per
// worker at a time, the rest waiting in order. Sized for the 2 cores of a function instance; one
// pool per process, started on its first job or ahead of it (`warm`). A worker keeps a process alive, so idle
// workers are ended after `idleMs` (a CLI that minted a key exits then). Where workers cannot start, bcryptjs
// runs in this thread instead (still asynchronous, so the caller's code is the same); only then is it loaded
// here (its load is a start-up cost the workers already pay).
import type { BcryptJob, BcryptResult } from "./bcrypt_worker.ts";

export interface BcryptPool {
  compare(text: string, hash: string): Promise<boolean>;
  hash(text: string, cost: number): Promise<string>;
  /** Hashes and compares asked of this pool so far (read by tests). */
  readonly counts: { hashes: number; compares: number };
  /**
   * Starts one worker now when none runs, so the first job does not wait for a worker to load
   * (~30 ms): for a server about to be asked. Ended after `idleMs` without a job, as any idle worker.
   */
  warm(): void;
}

type Pending = { job: BcryptJob; resolve: (value: unknown) => void; reject: (error: Error) => void };

export function createBcryptPool(size = 2, idleMs = 500): BcryptPool {
  const idle: Worker[] = [];
  const busy = new Map<Worker, Pending>();
  const waiting: Pending[] = [];
  let started = 0;
  let workersFailed = false;
  const counts = { hashes: 0, compares: 0 };
  let idleTimer: ReturnType<typeof setTimeout> | undefined;

  function endWhenIdle() {
    clearTimeout(idleTimer);
    idleTimer = undefined;
    if (busy.size > 0 || waiting.length > 0 || idle.length === 0) return;
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      if (busy.size > 0 || waiting.length > 0) return;
      for (const worker of idle.splice(0)) worker.terminate();
      started = 0;
    }, idleMs);
    // The timer alone does not keep the process alive (the idle workers do, until it fires).
    Deno.unrefTimer(idleTimer as unknown as number);
  }

  function start(): Worker | null {
    if (workersFailed) return null;
    try {
      const worker = new Worker(new URL("./bcrypt_worker.ts", import.meta.url).href, { type: "module" });
      worker.onmessage = ({ data }: MessageEvent<BcryptResult>) => {
        const pending = busy.get(worker);
        busy.delete(worker);
        idle.push(worker);
        if (pending) {
          if (data.error !== undefined) pending.reject(new Error(data.error));
          else pending.resolve(data.value);
        }
        pump();
      };
      worker.onerror = (event) => {
        // A worker that cannot load or crashed: its job, and every later one, runs in this thread.
        event.preventDefault();
        workersFailed = true;
        worker.terminate();
        // A warmed worker fails while idle: it must not be handed a job.
        const idleAt = idle.indexOf(worker);
        if (idleAt >= 0) idle.splice(idleAt, 1);
        const pending = busy.get(worker);
        busy.delete(worker);
        if (pending) inThread(pending);
        for (const job of waiting.splice(0)) inThread(job);
      };
      started++;
      return worker;
    } catch {
      workersFailed = true;
      return null;
    }
  }

  function inThread({ job, resolve, reject }: Pending) {
    import("bcryptjs").then(({ default: bcrypt }): Promise<unknown> =>
      job.op === "compare" ? bcrypt.compare(job.text, job.hash) : bcrypt.hash(job.text, job.cost)
    ).then(resolve, reject);
  }

  function pump() {
    while (waiting.length > 0) {
      const worker = idle.pop() ?? (started < size ? start() : null);
      if (!worker) {
        if (workersFailed) { for (const job of waiting.splice(0)) inThread(job); }
        return;
      }
      const pending = waiting.shift()!;
      busy.set(worker, pending);
      worker.postMessage(pending.job);
    }
    endWhenIdle();
  }

  function run<T>(job: BcryptJob): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      clearTimeout(idleTimer);
      idleTimer = undefined;
      waiting.push({ job, resolve: resolve as (value: unknown) => void, reject });
      pump();
    });
  }

  return {
    counts,
    warm() {
      if (started > 0) return;
      const worker = start();
      if (!worker) return;
      idle.push(worker);
      endWhenIdle();
    },
    compare: (text, hash) => (counts.compares++, run<boolean>({ op: "compare", text, hash })),
    hash: (text, cost) => (counts.hashes++, run<string>({ op: "hash", text, cost })),
  };
}

let shared: BcryptPool | null = null;

/** The process's pool (2 workers), started with its first job. */
export function bcryptPool(): BcryptPool {
  return (shared ??= createBcryptPool(2));
}
