// The request-log maintenance of a local server: salesos.maintain_request_log (the next days'
// partitions, dropping the expired ones, folding count shards) once soon after start and then
// every hour. Where pg_cron runs it (hosted Supabase: a migration schedules the job
// 'salesos-maintain-request-log'), this timer stands aside. The timer does not keep the process
// alive, and a failure (a database not there yet) is retried later.
import type { Database } from "../supabase/functions/_shared/database.ts";

export interface MaintenanceOptions {
  /** Days of request log kept (whole UTC days; older day partitions are dropped); default 90. */
  retentionDays?: number;
  /** Days of hourly usage counts kept; default 400. */
  countsRetentionDays?: number;
  /** Between two runs; default one hour. */
  intervalMs?: number;
  /** Before the first run; default 1 s (the server's migrations may still be running). */
  firstRunMs?: number;
  /** After a failed run; default one minute. */
  retryMs?: number;
  /** Where a run's outcome goes (one JSON-able object per run); default: stderr, failures only. */
  report?: (entry: { level: "info" | "warn"; message: string; actions?: string[]; error?: string }) => void;
}

export interface Maintenance {
  /** Resolves after the first run that did its work, or that found pg_cron doing it. */
  readonly firstRun: Promise<void>;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

const cronJob = "salesos-maintain-request-log";

/** Runs salesos.maintain_request_log on `db` now and then every hour, unless pg_cron does. */
export function startMaintenance(db: Database, options: MaintenanceOptions = {}): Maintenance {
  const retentionDays = options.retentionDays ?? 90;
  const countsRetentionDays = options.countsRetentionDays ?? 400;
  const intervalMs = options.intervalMs ?? 3_600_000;
  const retryMs = options.retryMs ?? 60_000;
  const report = options.report ??
    ((entry) => {
      if (entry.level !== "info") console.error(JSON.stringify(entry));
    });

  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let firstDone: () => void;
  const firstRun = new Promise<void>((resolve) => firstDone = resolve);

  const schedule = (ms: number) => {
    if (stopped) return;
    const next = setTimeout(() => {
      running = run();
    }, ms);
    Deno.unrefTimer(next);
    timer = next;
  };

  async function cronDoesIt(): Promise<boolean> {
    try {
      const [row] = await db.query<{ scheduled: boolean }>(
        `select pg_catalog.to_regclass('cron.job') is not null
                and exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') as scheduled`,
      );
      if (!row?.scheduled) return false;
      const [job] = await db.query<{ n: number }>("select count(*)::int as n from cron.job where jobname = $1", [
        cronJob,
      ]);
      return (job?.n ?? 0) > 0;
    } catch {
      return false;
    }
  }

  async function run(): Promise<void> {
    try {
      if (await cronDoesIt()) {
        report({ level: "info", message: `request log maintenance is scheduled by pg_cron (${cronJob})` });
        firstDone();
        return; // no timer: pg_cron runs it
      }
      const rows = await db.query<{ action: string }>(
        "select salesos.maintain_request_log($1, 3, $2) as action",
        [retentionDays, countsRetentionDays],
      );
      report({ level: "info", message: "request log maintained", actions: rows.map((r) => r.action) });
      firstDone();
      schedule(intervalMs);
    } catch (error) {
      report({ level: "warn", message: "request log maintenance failed; tried again later", error: String(error) });
      schedule(retryMs);
    }
  }

  schedule(options.firstRunMs ?? 1_000);
  return {
    firstRun,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
