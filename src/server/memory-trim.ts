/**
 * Memory back to the system once a burst is over. glibc keeps what a burst freed in its arenas
 * (one per thread that allocated: the main thread, each inference worker, libuv's pool), and V8
 * frees a burst's large buffers only when it next collects, so resident memory would stay near the
 * burst's peak. When no call has been in flight for `idleMs`, every thread collects its garbage and
 * malloc_trim(0) returns the free pages of every arena. A fixed mmap threshold (the other way) was
 * not taken, because fresh pages for every large buffer cost the steady state (docs/BENCHMARKS.md).
 * Every trim runs on a thread of libuv's pool, not the main thread.
 */
import { glibc } from './libc.js';

/** Returns glibc's free pages to the system; false where the C library is not glibc, or the call failed (never fatal). */
export async function trimArenas(): Promise<boolean> {
  const libc = glibc();
  if (!libc) return false;
  return libc.mallocTrim(0).then(
    () => true,
    () => false,
  );
}

/** Quiet time after the last call before freed memory goes back to the system. */
export const IDLE_TRIM_MS = 2000;

/** Trims after the first, each four idle periods after the one before. */
const FOLLOW_UP_TRIMS = 2;

export class IdleMemoryTrim {
  private timer: NodeJS.Timeout | undefined;
  /** Trims done, for tests and metrics. */
  trims = 0;

  /** `release`: frees what the engine keeps (pooled buffers, garbage) before the trim. */
  constructor(
    private readonly idleMs: number,
    private readonly isIdle: () => boolean,
    private readonly release: () => Promise<void>,
    private readonly trim: () => Promise<boolean> = trimArenas,
  ) {}

  /** The server went idle: trim in idleMs if it still is then, and again after FOLLOW_UP_TRIMS longer waits. */
  idle(): void {
    this.schedule(this.idleMs, FOLLOW_UP_TRIMS);
  }

  private schedule(afterMs: number, followUps: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.trimIfIdle(followUps), afterMs).unref();
  }

  /**
   * V8 frees the backing stores of collected buffers on a background thread, and connections let go
   * of theirs as they close, so some of a burst's memory is freed only after the first trim: a later
   * one returns it.
   */
  private async trimIfIdle(followUps: number): Promise<void> {
    if (!this.isIdle()) return;
    await this.release();
    if (!this.isIdle()) return;
    if (await this.trim()) this.trims++;
    if (followUps > 0) this.schedule(this.idleMs * 4, followUps - 1);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Memory back during a burst of large uploads too, not only after it. What the uploads held is freed
 * in the main thread's arena while the workers' decodes take fresh pages in theirs, so resident
 * memory grew by what the burst had freed: a hundred 30 MB calls over a hundred connections peaked
 * 1.8-2.0 GB above before, 1.4-1.55 GB with a trim after each 64 MiB uploaded (docs/BENCHMARKS.md).
 * Every byte uploaded is freed once its call ends, so once uploads have received `bytes` since the
 * last trim, the arenas are trimmed again, at most once every `everyMs`. Ordinary calls (scans of
 * half a megabyte) bring that much in a minute, not a second: the steady state keeps the pages it
 * reuses.
 */
export class UploadChurnTrim {
  private receivedBytes = 0;
  private lastAt = -Infinity;
  private pending: NodeJS.Timeout | undefined;
  /** Trims done, for tests. */
  trims = 0;

  constructor(
    private readonly bytes: number,
    private readonly everyMs: number,
    private readonly trim: () => Promise<boolean> = trimArenas,
  ) {}

  /** An upload received these bytes. */
  received(bytes: number): void {
    this.receivedBytes += bytes;
    if (this.receivedBytes < this.bytes || this.pending) return;
    this.schedule();
  }

  private schedule(): void {
    const wait = Math.max(0, this.lastAt + this.everyMs - performance.now());
    this.pending = setTimeout(() => void this.run(), wait).unref();
  }

  private async run(): Promise<void> {
    // A timer may fire a millisecond or two early by performance.now() (it counts from the event
    // loop's cached time): the bound between trims is kept by looking again.
    if (performance.now() < this.lastAt + this.everyMs) return this.schedule();
    this.receivedBytes = 0;
    this.lastAt = performance.now();
    if (await this.trim()) this.trims++;
    this.pending = undefined;
    // What uploads received while it trimmed is for the next.
    this.received(0);
  }

  stop(): void {
    clearTimeout(this.pending);
  }
}
