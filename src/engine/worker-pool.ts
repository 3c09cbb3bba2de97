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
  current: (Pending & { startedAt: number }) | null;
  /** Holds sessions with more threads, for the tasks that run alone (WorkerConfig.wide). */
  wide: boolean;
}

/** What dispatch needs to know of a worker. */
export interface SlotState {
  busy: boolean;
  wide: boolean;
}

/**
 * The idle worker for the next task, or null when all are busy. A task runs alone when no other
 * worker is busy and nothing else waits; it then goes to the wide worker, which can give it more
 * threads.
 */
export function pickSlot(slots: readonly SlotState[], waitingAfter: number): { index: number; alone: boolean } | null {
  const idle = slots.findIndex((s) => !s.busy);
  if (idle < 0) return null;
  const alone = waitingAfter === 0 && slots.every((s) => !s.busy);
  const wide = alone ? slots.findIndex((s) => s.wide) : -1;
  return { index: wide >= 0 ? wide : idle, alone };
}

const WORKER_URL = new URL('./inference-worker.js', import.meta.url);

/**
 * Inference workers, each with its own sessions, fed from one queue ordered by priority: lower
 * first (the engine passes the request's arrival number, so older requests finish first).
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private seq = 0;
  private closed = false;

  private constructor(private readonly config: Omit<WorkerConfig, 'wide'>) {}

  /** `size` workers, the first of them wide. */
  static async start(size: number, config: Omit<WorkerConfig, 'wide'>): Promise<WorkerPool> {
    const pool = new WorkerPool(config);
    await Promise.all(Array.from({ length: size }, (_, i) => pool.spawn(i === 0)));
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  get queued(): number {
    return this.queue.length;
  }

  get busy(): number {
    return this.slots.filter((s) => s.current).length;
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
        // Only a task still queued is dropped; one running finishes (a model call cannot be stopped).
        onAbort: () => {
          const i = this.queue.indexOf(pending);
          if (i >= 0) {
            this.queue.splice(i, 1);
            reject(new OcrError('CANCELLED', 'request cancelled while queued'));
          }
        },
      };
      const at = this.queue.findIndex((p) => p.priority > priority);
      this.queue.splice(at < 0 ? this.queue.length : at, 0, pending);
      signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new OcrError('UNAVAILABLE', 'the engine is shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }

  private spawn(wide: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: { ...this.config, wide } satisfies WorkerConfig });
      const slot: Slot = { worker, current: null, wide };
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

  /** A worker that dies fails only its own task; a fresh one takes its place. */
  private crashed(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    slot.current?.reject(new OcrError('INTERNAL', `inference worker crashed (${err.message}); retry the request`));
    slot.current = null;
    if (!this.closed) this.spawn(slot.wide).catch(() => undefined);
  }

  private settle(slot: Slot, msg: WorkerResponse): void {
    const current = slot.current;
    slot.current = null;
    if (current && current.seq === msg.id) {
      if (msg.ok) {
        current.resolve({ reply: msg.reply, waitMs: current.startedAt - current.enqueuedAt, elapsedMs: msg.elapsedMs });
      } else {
        current.reject(new OcrError(msg.error.code as OcrErrorCode, msg.error.message));
      }
    }
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const pick = pickSlot(
        this.slots.map((s) => ({ busy: s.current !== null, wide: s.wide })),
        this.queue.length - 1,
      );
      if (!pick) return;
      const slot = this.slots[pick.index]!;
      const next = this.queue.shift()!;
      next.signal?.removeEventListener('abort', next.onAbort);
      slot.current = { ...next, startedAt: performance.now() };
      slot.worker.postMessage({ id: next.seq, task: next.task, alone: pick.alone } satisfies WorkerRequest);
    }
  }
}
