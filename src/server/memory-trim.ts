/**
 * Memory back to the system once a burst is over. glibc keeps what a burst freed in its arenas
 * (one per thread that allocated: the main thread, each inference worker, libuv's pool), and V8
 * frees a burst's large buffers only when it next collects, so resident memory would stay near the
 * burst's peak. When no call has been in flight for `idleMs`, every thread collects its garbage and
 * malloc_trim(0) returns the free pages of every arena. It runs only when idle, so it costs
 * nothing under load; a fixed mmap threshold (the other way) was not taken, because fresh pages
 * for every large buffer cost the steady state (docs/BENCHMARKS.md).
 */
import { glibc } from './libc.js';

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
    if (glibc()?.mallocTrim(0) !== undefined) this.trims++;
    if (followUps > 0) this.schedule(this.idleMs * 4, followUps - 1);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
