import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../shared/process-metrics.js';

/** What the gauges read from the engine when scraped. */
export interface ServerLoad {
  inFlight: () => number;
  queuedTasks: () => number;
  memoryUsed: () => number;
  /** The memory budget's size in bytes (--memory-budget-mb). */
  memoryBudget: () => number;
  /** Inference workers loaded and taking tasks. */
  workersLoaded: () => number;
  /** Inference workers running a model task now. */
  workersBusy: () => number;
  estimatedWaitMs: (priority: 'interactive' | 'batch') => number;
  workersReplaced: () => number;
  /** Inference workers that died while serving (and were replaced). */
  workersCrashed: () => number;
  /** Bytes held by the requests being read (upload-gate.ts). */
  uploadBytesHeld: () => number;
}

/**
 * Buckets of a call's time, and of a stage's, on both doors: from a cached answer or GetServerInfo
 * (under 5 ms) to a call that waited its 30 s (--max-wait-ms) and then ran, or a model task stopped
 * at its 60 s cap (--task-cap-ms). Ending at 30 s, every such call (and a queue stage, whose buckets
 * ended at 5 s) fell in +Inf, where no quantile can be read. A page takes 0.4 to 2 s: with nothing
 * between 0.5, 1 and 2.5 s, a p99 of 1.1 s and one of 2.4 s read alike, so 0.75, 1.5, 2 and 3 are
 * there too, and 20 between 10 and 30 for calls that waited. Buckets are only added: a dashboard's
 * `le="2.5"` still reads.
 */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 5, 10, 20, 30, 60];

/**
 * Buckets of the time to a non-OK answer: LATENCY_BUCKETS with three more between 50 and 100 ms.
 * A refusal for load is held for the pace (50 ms by default, refusal-pace.ts) and promised within
 * 100 ms, so most fall between those two: with no bucket there, every quantile of them reads
 * about 100 ms, whether they took 51 ms or 99.
 */
export const ERROR_LATENCY_BUCKETS = [...LATENCY_BUCKETS, 0.06, 0.075, 0.09].sort((a, b) => a - b);

/** Counts the engine keeps, read when scraped: name, help, and what each reads. */
const LOAD_COUNTS: ReadonlyArray<[name: string, help: string, read: (load: ServerLoad) => number]> = [
  [
    'ocr_workers_replaced_total',
    'Inference workers replaced since the start because a task overran its deadline or the cap',
    (load) => load.workersReplaced(),
  ],
  [
    'ocr_workers_crashed_total',
    'Inference workers that died while serving (their running call failed INTERNAL) and were replaced, since the start',
    (load) => load.workersCrashed(),
  ],
];

/** Gauges read from the engine when scraped: name, help, and what each reads. */
const LOAD_GAUGES: ReadonlyArray<[name: string, help: string, read: (load: ServerLoad) => number]> = [
  ['ocr_requests_in_flight', 'Requests admitted and not yet answered', (load) => load.inFlight()],
  ['ocr_queued_model_tasks', 'Model calls waiting for a free inference worker', (load) => load.queuedTasks()],
  [
    'ocr_memory_budget_used_bytes',
    'Bytes of memory held by admitted calls and tile streams, against the budget (--memory-budget-mb)',
    (load) => load.memoryUsed(),
  ],
  [
    'ocr_memory_budget_bytes',
    'Bytes admitted calls may hold at once (--memory-budget-mb): ocr_memory_budget_used_bytes over this is the share in use',
    (load) => load.memoryBudget(),
  ],
  ['ocr_workers', 'Inference workers loaded and taking model tasks (fewer than --workers while they load)', (load) => load.workersLoaded()],
  [
    'ocr_workers_busy',
    'Inference workers running a model task now: over ocr_workers, how busy the workers are',
    (load) => load.workersBusy(),
  ],
  [
    'ocr_upload_bytes_held',
    'Bytes held by gRPC requests and HTTP bodies being read; past their share of the memory budget, only the oldest are read',
    (load) => load.uploadBytesHeld(),
  ],
];

/** Prometheus metrics of one server: latency per method, stage times, outcomes, load. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'ocr_requests_total',
    help: 'Calls ended, by method and gRPC status: those answered, and those whose caller left or whose deadline passed first (CANCELLED, DEADLINE_EXCEEDED), before or after their request had all come',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'ocr_request_duration_seconds',
    help: 'Seconds from a call arriving to its OK answer, by method (calls refused or failed are timed in ocr_request_error_duration_seconds; all are counted in ocr_requests_total)',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /**
   * Apart from `latency`, not a `code` label on it: its `{method}` quantiles, read by dashboards and
   * alerts as the time to an answer, would then take in refusals held 50 ms and fall silently.
   */
  readonly errorLatency = new Histogram({
    name: 'ocr_request_error_duration_seconds',
    help: 'Seconds from a call arriving to its answer with a status other than OK (a refusal, its hold for the refusal pace included, or a failure), by method and gRPC status (calls whose caller had left, cancelled or past their deadline, or stopped sending its request, are counted in ocr_requests_total, not timed here)',
    labelNames: ['method', 'code'] as const,
    buckets: ERROR_LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly stage = new Histogram({
    name: 'ocr_stage_duration_seconds',
    help: "Seconds spent per pipeline stage of a page: queue (waiting for admission and a worker), decode, detect, classify (the angle classifier on the page's orientation, auto_rotate; 0 without it), recognize",
    labelNames: ['stage'] as const,
    buckets: [0.001, ...LATENCY_BUCKETS],
    registers: [this.registry],
  });
  readonly lines = new Counter({
    name: 'ocr_lines_total',
    help: 'Text lines returned',
    registers: [this.registry],
  });
  readonly cacheRequests = new Counter({
    name: 'ocr_cache_requests_total',
    help: 'Recognize calls looked up in the result cache: hit (answered from it), miss (computed, then stored), error (the cache failed: computed without it; also a store Redis failed or refused)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly memoryReleases = new Counter({
    name: 'ocr_memory_releases_total',
    help: 'Times freed memory went back to the system: once no call had been in flight for 2 s (idle: pooled buffers dropped, garbage collected, then the C library trimmed), or during a burst of uploads (uploads: the C library trimmed)',
    labelNames: ['when'] as const,
    registers: [this.registry],
  });
  readonly cacheBytes = new Gauge({
    name: 'ocr_cache_memory_bytes',
    help: "Bytes of results held in this process's result cache (--cache-max-mb bounds it)",
    registers: [this.registry],
  });

  /**
   * Counts a call answered now with `code`, a status other than OK, and times it from `arrived`
   * (performance.now() when its stream came). `arrived` null: ended because its client stopped
   * sending, counted but not timed: that time is the client's pause and the server's idle limit,
   * seconds that would hide how fast refusals are answered. Hundreds of refusals a second run this
   * on the main thread: one labels object for both.
   */
  answeredNotOk(method: string, code: string, arrived: number | null): void {
    const labels = { method, code };
    this.requests.inc(labels);
    if (arrived !== null) this.errorLatency.observe(labels, (performance.now() - arrived) / 1000);
  }

  constructor(load: ServerLoad) {
    collectProcessMetrics(this.registry);
    // Each label value from the start, at 0: a series that appears only with its first event gives
    // rate() and increase() nothing to read until then.
    for (const when of ['idle', 'uploads'] as const) this.memoryReleases.inc({ when }, 0);
    for (const [name, help, read] of LOAD_GAUGES) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read(load));
        },
      });
    }
    // Counts that only grow: counters, so that rate() and increase() read them (the engine keeps the counts).
    for (const [name, help, read] of LOAD_COUNTS) {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read(load));
        },
      });
    }
    new Gauge({
      name: 'ocr_estimated_wait_seconds',
      help: 'Estimated wait of a new call, in seconds, by priority: past its deadline, a call is refused',
      labelNames: ['priority'] as const,
      registers: [this.registry],
      collect() {
        for (const priority of ['interactive', 'batch'] as const) this.set({ priority }, load.estimatedWaitMs(priority) / 1000);
      },
    });
  }
}
