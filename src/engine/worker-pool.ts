import { Worker } from 'node:worker_threads';
import { OcrError, type OcrErrorCode } from '../shared/errors.js';
import type { ReplyFor, Task, WorkerConfig, WorkerReady, WorkerRequest, WorkerResponse } from './worker-protocol.js';

export interface TaskResult<R> {
  reply: R;
  /** Time spent waiting for a free worker. */
  waitMs: number;
  /** Time the worker spent on it. */
  elapsedMs: number;
}

interface Pending {
  seq: number;
  priority: number;
  task: Task;
  enqueuedAt: number;
  resolve: (result: TaskResult<unknown>) => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

interface Slot {
  worker: Worker;
  /** Tasks posted to the worker and not yet answered, oldest first: it runs them in this order. */
  posted: Pending[];
  /** Holds sessions with more threads, for the tasks that run alone (WorkerConfig.wide). */
  wide: boolean;
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

  private constructor(
    private readonly config: Omit<WorkerConfig, 'wide'>,
    private readonly depth: number,
    private readonly workerUrl: URL,
  ) {}

  /** `size` workers, the first of them wide. */
  static async start(size: number, config: Omit<WorkerConfig, 'wide'>, options: PoolOptions = {}): Promise<WorkerPool> {
    const pool = new WorkerPool(config, Math.max(1, options.depth ?? 1), options.workerUrl ?? WORKER_URL);
    await Promise.all(Array.from({ length: size }, (_, i) => pool.spawn(i === 0)));
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  get queued(): number {
    return this.queue.length;
  }

  run<T extends Task>(task: T, priority: number, signal?: AbortSignal): Promise<TaskResult<ReplyFor<T>>> {
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
        // Only a task still queued is dropped; one posted to a worker runs (a model call cannot be
        // stopped, and the worker may already have begun it).
        onAbort: () => {
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

  async close(): Promise<void> {
    this.closed = true;
    // Tasks still with a worker are cut off too: terminating it answers nothing.
    const unfinished = [...this.queue.splice(0), ...this.slots.flatMap((s) => s.posted.splice(0))];
    for (const p of unfinished) p.reject(new OcrError('UNAVAILABLE', 'the engine is shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }

  private spawn(wide: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(this.workerUrl, { workerData: { ...this.config, wide } satisfies WorkerConfig });
      const slot: Slot = { worker, posted: [], wide };
      let ready = false;
      worker.on('message', (msg: WorkerResponse | WorkerReady) => {
        if ('ready' in msg) {
          ready = true;
          this.slots.push(slot);
          resolve();
          this.dispatch();
          return;
        }
        this.settle(slot, msg);
      });
      worker.on('error', (err) => {
        if (!ready) return reject(new Error(`inference worker failed to start: ${err.message}`));
        this.crashed(slot, err);
      });
      worker.on('exit', (code) => {
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
    const [running, ...notBegun] = slot.posted.splice(0);
    running?.reject(new OcrError('INTERNAL', `inference worker crashed (${err.message}); retry the request`));
    for (const p of notBegun) this.enqueue(p);
    if (!this.closed) this.spawn(slot.wide).catch(() => undefined);
    this.dispatch();
  }

  private settle(slot: Slot, msg: WorkerResponse): void {
    const at = slot.posted.findIndex((p) => p.seq === msg.id);
    if (at >= 0) {
      const [done] = slot.posted.splice(at, 1);
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
      const pick = pickSlot(
        this.slots.map((s) => ({ posted: s.posted.length, wide: s.wide })),
        this.queue.length - 1,
        this.depth,
      );
      if (!pick) return;
      const slot = this.slots[pick.index]!;
      const next = this.queue.shift()!;
      next.signal?.removeEventListener('abort', next.onAbort);
      slot.posted.push(next);
      slot.worker.postMessage({ id: next.seq, task: next.task, alone: pick.alone } satisfies WorkerRequest);
    }
  }
}
