import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { OcrError, type OcrErrorCode } from '../../shared/errors.js';
import { claimForStop, newPhaseCell, type PhaseCell } from './worker-phase.js';
import { collectGarbage } from './collect-garbage.js';
import type {
  ReplyFor,
  Task,
  WorkerCollect,
  WorkerCollected,
  WorkerConfig,
  WorkerReady,
  WorkerRequest,
  WorkerResponse,
} from './worker-protocol.js';

export interface TaskResult<R> {
  reply: R;
  /** Time spent waiting for a free worker. */
  waitMs: number;
  /** Time the worker spent on it. */
  elapsedMs: number;
}

export interface RunOptions {
  /** Lower runs first. */
  priority: number;
  signal?: AbortSignal;
  /** The call's deadline (Date.now() milliseconds): a task still running past it, plus the overrun margin, is stopped. */
  deadline?: number;
  /**
   * Start it only on an idle pool, nothing else queued, so that its time is its own (a measure of
   * the machine). Give it the lowest priority: until it starts, the tasks queued after it wait too.
   */
  exclusive?: boolean;
}

interface Pending {
  seq: number;
  priority: number;
  task: Task;
  enqueuedAt: number;
  resolve: (result: TaskResult<unknown>) => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  deadline: number;
  exclusive: boolean;
  /** When its signal fired (Date.now()), if it did. */
  abortedAt: number;
  onAbort: () => void;
}

interface Slot {
  worker: Worker;
  /** Tasks posted to the worker and not yet answered, oldest first: it runs them in this order. */
  posted: Pending[];
  /** Holds sessions with more threads, for the tasks that run alone (WorkerConfig.wide). */
  wide: boolean;
  /** Called when the worker reports a garbage collection done. */
  collected: (() => void)[];
  /** Whether it may be terminated now (worker-phase.ts). */
  phase: PhaseCell;
  /** When posted[0] began (Date.now()): when it was posted to an idle worker, or when the one before it was answered. */
  runningSince: number;
}

/** What dispatch needs to know of a worker. */
export interface SlotState {
  /** Tasks posted to it and not yet answered. */
  posted: number;
  wide: boolean;
}

/**
 * The worker for the next task, or null when none should take it now. An idle worker comes first.
 * A task runs alone when no other worker is busy and nothing else waits; it then goes to the wide
 * worker, which can give it more threads. When every worker is busy, a worker with fewer than
 * `depth` tasks posted takes one more to start as soon as it is free, instead of idling for the
 * round trip through the main thread's event loop.
 */
export function pickSlot(slots: readonly SlotState[], waitingAfter: number, depth: number): { index: number; alone: boolean } | null {
  const idle = slots.findIndex((s) => s.posted === 0);
  if (idle >= 0) {
    const alone = waitingAfter === 0 && slots.every((s) => s.posted === 0);
    const wide = alone ? slots.findIndex((s) => s.wide) : -1;
    return { index: wide >= 0 ? wide : idle, alone };
  }
  let least = -1;
  slots.forEach((s, i) => {
    if (s.posted < depth && (least < 0 || s.posted < slots[least]!.posted)) least = i;
  });
  return least >= 0 ? { index: least, alone: false } : null;
}

const WORKER_URL = new URL('./inference-worker.js', import.meta.url);

export interface PoolOptions {
  /**
   * Tasks a worker may hold at once, the one it runs included. 1: a worker gets its next task once
   * the main thread has its answer; 2: the next is posted while it still runs the last.
   */
  depth?: number;
  /** The worker's script; it speaks worker-protocol.ts (tests give a stand-in). */
  workerUrl?: URL;
  /** A task runs at most this long past its call's deadline or cancellation before its worker is stopped. */
  overrunMs?: number;
  /** No task runs longer than this, deadline or not. */
  taskCapMs?: number;
}

/** The pool's defaults: a second to finish what would be wasted by a restart, a minute for anything. */
export const DEFAULT_OVERRUN_MS = 1000;
export const DEFAULT_TASK_CAP_MS = 60_000;

/** How often running tasks are checked against their deadlines and the cap. */
const WATCH_INTERVAL_MS = 100;

/** What close() left behind: workers inside a native call that could not be terminated. */
export interface PoolClosed {
  stuck: number;
}

/**
 * Inference workers, each with its own sessions, fed from one queue ordered by priority: lower
 * first (the engine passes the request's arrival number, so older requests finish first).
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private seq = 0;
  private closed = false;
  private watch: NodeJS.Timeout | undefined;
  /** Workers retired inside a native call (worker-phase.ts), until they exit. */
  private readonly retiring = new Set<Worker>();
  /** Workers still loading their models: inside native calls much of the time, so never terminated. */
  private readonly loading = new Set<Worker>();
  /** Every worker started that has not exited yet. */
  private readonly live = new Set<Worker>();
  /** Settles once every worker of the start has loaded; rejects with the first that could not. */
  private rest: Promise<void> = Promise.resolve();
  /** Workers stopped for overrunning, since the start. */
  stoppedWorkers = 0;
  /** Workers that died (an error, an exit) while they served, since the start. */
  crashedWorkers = 0;
  /**
   * Told of each worker lost while serving and of its replacement's start: `overrun` (stopped for
   * running past its call's deadline or the cap), `crash` (it died), `respawn-failed` (the worker
   * meant to take a lost one's place could not start: the pool has one worker fewer).
   */
  onWorkerLost: ((event: { reason: 'overrun' | 'crash' | 'respawn-failed'; message: string; workers: number }) => void) | undefined;

  private constructor(
    private readonly config: Omit<WorkerConfig, 'wide' | 'phase'>,
    private readonly depth: number,
    private readonly workerUrl: URL,
    private readonly overrunMs: number,
    private readonly taskCapMs: number,
    /** Workers the pool runs once all have loaded. */
    readonly size: number,
  ) {}

  /**
   * `size` workers, the first of them wide. Resolves once the first has loaded its models: with the
   * cores to itself it loads soonest, and the pool serves from then on; the others load meanwhile
   * and take tasks as each is ready (allLoaded).
   */
  static async start(size: number, config: Omit<WorkerConfig, 'wide' | 'phase'>, options: PoolOptions = {}): Promise<WorkerPool> {
    const pool = new WorkerPool(
      config,
      Math.max(1, options.depth ?? 1),
      options.workerUrl ?? WORKER_URL,
      options.overrunMs ?? DEFAULT_OVERRUN_MS,
      options.taskCapMs ?? DEFAULT_TASK_CAP_MS,
      size,
    );
    await pool.spawn(true);
    pool.rest = Promise.all(Array.from({ length: size - 1 }, () => pool.spawn(false))).then(() => undefined);
    pool.rest.catch(() => undefined); // the caller's, through allLoaded
    return pool;
  }

  /** Settles once every worker of the start has loaded its models; rejects with the first that could not. */
  get allLoaded(): Promise<void> {
    return this.rest;
  }

  /** Workers loaded and taking tasks. */
  get loaded(): number {
    return this.slots.length;
  }

  /** Workers running a task now (posted to, not yet answered). */
  get busy(): number {
    return this.slots.reduce((n, s) => n + (s.posted.length > 0 ? 1 : 0), 0);
  }

  /** Tasks waiting for a worker, an exclusive one (a measure of the machine, not a call's) aside. */
  get queued(): number {
    return this.queue.reduce((n, p) => n + (p.exclusive ? 0 : 1), 0);
  }

  run<T extends Task>(task: T, options: RunOptions): Promise<TaskResult<ReplyFor<T>>> {
    const { priority, signal } = options;
    if (this.closed) return Promise.reject(new OcrError('UNAVAILABLE', 'the engine is shutting down'));
    if (signal?.aborted) return Promise.reject(new OcrError('CANCELLED', 'request cancelled before it ran'));
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        seq: this.seq++,
        priority,
        task,
        enqueuedAt: performance.now(),
        resolve: resolve as (r: TaskResult<unknown>) => void,
        reject,
        signal,
        deadline: options.deadline ?? Infinity,
        exclusive: options.exclusive ?? false,
        abortedAt: Infinity,
        // A task still queued is dropped; one posted to a worker runs on unless it overruns (watch).
        onAbort: () => {
          pending.abortedAt = Date.now();
          const i = this.queue.indexOf(pending);
          if (i >= 0) {
            this.queue.splice(i, 1);
            reject(new OcrError('CANCELLED', 'request cancelled while queued'));
          }
        },
      };
      this.enqueue(pending);
      this.dispatch();
    });
  }

  private enqueue(pending: Pending): void {
    const at = this.queue.findIndex((p) => p.priority > pending.priority);
    this.queue.splice(at < 0 ? this.queue.length : at, 0, pending);
    pending.signal?.addEventListener('abort', pending.onAbort, { once: true });
  }

  /** A full garbage collection in this thread and, after their tasks in hand, in every worker. */
  async collectGarbage(): Promise<void> {
    collectGarbage();
    await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            slot.collected.push(resolve);
            slot.worker.postMessage({ collectGarbage: true } satisfies WorkerCollect);
          }),
      ),
    );
  }

  /**
   * Fail every task and stop every worker. One inside a native model call cannot be terminated
   * (worker-phase.ts): it is retired, exits when the call returns, and is counted as stuck, so that
   * a process that must exit now knows it has to end itself the hard way.
   */
  async close(): Promise<PoolClosed> {
    this.closed = true;
    clearInterval(this.watch);
    // Tasks still with a worker are cut off too: stopping it answers nothing.
    const unfinished = [...this.queue.splice(0), ...this.slots.flatMap((s) => s.posted.splice(0))];
    for (const p of unfinished) p.reject(new OcrError('UNAVAILABLE', 'the engine is shutting down'));
    await Promise.all(this.slots.splice(0).map((s) => this.stopWorker(s)));
    // A worker still loading is stopped once it has loaded (spawn); until then it holds the process as a stuck one would.
    return { stuck: this.retiring.size + this.loading.size };
  }

  /**
   * Settles once every worker has exited, as each does after close(): the retired ones when their
   * native call returns. A process that ends by process.exit() (mocha's --exit, an application
   * embedding the engine) before then, or whose event loop empties (a retired worker is unref'd),
   * is aborted by the call's return (worker-phase.ts), exit 134; `ocr serve` need not wait, ending
   * itself with _exit. Waited for here, the workers keep the process alive again.
   */
  async exited(): Promise<void> {
    await Promise.all(
      [...this.live].map((worker) => {
        const exit = once(worker, 'exit');
        worker.ref();
        return exit;
      }),
    );
  }

  /** Terminate the worker if it is in JavaScript; else retire it to exit after its native call. */
  private async stopWorker(slot: Slot): Promise<void> {
    if (claimForStop(slot.phase) === 'terminate') {
      await slot.worker.terminate();
      return;
    }
    const { worker } = slot;
    this.retiring.add(worker);
    worker.once('exit', () => this.retiring.delete(worker));
    worker.unref();
  }

  /** Stop the tasks that run past their call's deadline or cancellation (plus the margin), or past the cap. */
  private watchOverruns(): void {
    const now = Date.now();
    for (const slot of [...this.slots]) {
      const running = slot.posted[0];
      if (!running) continue;
      const late = Math.min(running.deadline, running.abortedAt) + this.overrunMs;
      const capped = slot.runningSince + this.taskCapMs;
      if (now < late && now < capped) continue;
      const error =
        now >= late
          ? new OcrError(
              running.abortedAt <= running.deadline ? 'CANCELLED' : 'DEADLINE_EXCEEDED',
              running.abortedAt <= running.deadline
                ? 'the call was cancelled while its model task ran; the task was stopped'
                : "the call's deadline passed while its model task ran; the task was stopped: allow a longer deadline or send a smaller image",
            )
          : new OcrError(
              'RESOURCE_EXHAUSTED',
              `a model task ran over this server's cap of ${this.taskCapMs} ms and was stopped; send a smaller image or lower max_side_len`,
            );
      this.replace(slot, error);
    }
    if (this.slots.every((s) => s.posted.length === 0)) {
      clearInterval(this.watch);
      this.watch = undefined;
    }
  }

  /**
   * A worker that is gone answers no collection asked of it: those waiting on it are done (its
   * garbage goes with it). A worker collects after the task it is running, so one replaced for
   * overrunning that task had left the idle trim waiting on it for good (memory-trim.ts).
   */
  private forgetCollects(slot: Slot): void {
    for (const done of slot.collected.splice(0)) done();
  }

  /** Stop an overrunning worker: its running task fails with `error`, the rest go back to the queue, a fresh worker takes its place. */
  private replace(slot: Slot, error: OcrError): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    this.stoppedWorkers++;
    const [running, ...notBegun] = slot.posted.splice(0);
    running?.reject(error);
    for (const p of notBegun) this.enqueue(p);
    this.forgetCollects(slot);
    void this.stopWorker(slot);
    this.onWorkerLost?.({ reason: 'overrun', message: error.message, workers: this.slots.length });
    this.respawn(slot);
    this.dispatch();
  }

  private spawn(wide: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const phase = newPhaseCell();
      const worker = new Worker(this.workerUrl, { workerData: { ...this.config, wide, phase } satisfies WorkerConfig });
      const slot: Slot = { worker, posted: [], wide, phase, runningSince: 0, collected: [] };
      let ready = false;
      this.loading.add(worker);
      this.live.add(worker);
      worker.on('message', (msg: WorkerResponse | WorkerReady | WorkerCollected) => {
        if ('collected' in msg) {
          slot.collected.shift()?.();
          return;
        }
        if ('ready' in msg) {
          ready = true;
          this.loading.delete(worker);
          // Loaded after the pool closed: nothing to do. It may already be making what follows its
          // ready message (a native call), so it is stopped as any other worker is.
          if (this.closed) void this.stopWorker(slot);
          else this.slots.push(slot);
          resolve();
          this.dispatch();
          return;
        }
        this.settle(slot, msg);
      });
      worker.on('error', (err) => {
        this.loading.delete(worker);
        if (!ready) return reject(new Error(`inference worker failed to start: ${err.message}`));
        this.crashed(slot, err);
      });
      worker.on('exit', (code) => {
        this.live.delete(worker);
        this.loading.delete(worker);
        if (!ready) reject(new Error(`inference worker exited with code ${code} while loading models`));
        else if (!this.closed) this.crashed(slot, new Error(`exited with code ${code}`));
      });
    });
  }

  /**
   * A worker that dies fails only the task it was running; the tasks posted behind it, not yet
   * begun, go back to the queue, and a fresh worker takes its place.
   */
  private crashed(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    this.crashedWorkers++;
    const [running, ...notBegun] = slot.posted.splice(0);
    running?.reject(new OcrError('INTERNAL', `inference worker crashed (${err.message}); retry the request`));
    for (const p of notBegun) this.enqueue(p);
    this.forgetCollects(slot);
    this.onWorkerLost?.({ reason: 'crash', message: err.message, workers: this.slots.length });
    this.respawn(slot);
    this.dispatch();
  }

  /** A fresh worker in a lost one's place; one that cannot start is reported (the pool serves with the others). */
  private respawn(slot: Slot): void {
    if (this.closed) return;
    this.spawn(slot.wide).catch((err: unknown) => {
      if (!this.closed) this.onWorkerLost?.({ reason: 'respawn-failed', message: (err as Error).message, workers: this.slots.length });
    });
  }

  private settle(slot: Slot, msg: WorkerResponse): void {
    const at = slot.posted.findIndex((p) => p.seq === msg.id);
    if (at >= 0) {
      const [done] = slot.posted.splice(at, 1);
      slot.runningSince = Date.now();
      done!.signal?.removeEventListener('abort', done!.onAbort);
      if (msg.ok) {
        // The worker began it elapsedMs ago: it may have been posted well before, behind another.
        const waitMs = Math.max(0, performance.now() - msg.elapsedMs - done!.enqueuedAt);
        done!.resolve({ reply: msg.reply, waitMs, elapsedMs: msg.elapsedMs });
      } else {
        done!.reject(new OcrError(msg.error.code as OcrErrorCode, msg.error.message));
      }
    }
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      if (this.queue[0]!.exclusive && (this.queue.length > 1 || this.slots.some((s) => s.posted.length > 0))) return;
      const pick = pickSlot(
        this.slots.map((s) => ({ posted: s.posted.length, wide: s.wide })),
        this.queue.length - 1,
        this.depth,
      );
      if (!pick) return;
      const slot = this.slots[pick.index]!;
      const next = this.queue.shift()!;
      if (slot.posted.length === 0) slot.runningSince = Date.now();
      slot.posted.push(next);
      this.watch ??= setInterval(() => this.watchOverruns(), WATCH_INTERVAL_MS).unref();
      slot.worker.postMessage({ id: next.seq, task: next.task, alone: pick.alone } satisfies WorkerRequest);
    }
  }
}
