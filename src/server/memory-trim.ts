/**
 * Memory back to the system once a burst is over. glibc keeps what a burst freed in its arenas
 * (one per thread that allocated: the main thread, each inference worker, libuv's pool), so
 * resident memory would stay at the burst's peak. When no call has been in flight for `idleMs`,
 * malloc_trim(0) returns the free pages of every arena. It runs only when idle, so it costs
 * nothing under load; a fixed mmap threshold (the other way) was not taken, because fresh pages
 * for every large buffer cost the steady state (docs/BENCHMARKS.md).
 */
import { glibc } from './libc.js';

export class IdleMemoryTrim {
  private timer: NodeJS.Timeout | undefined;
  /** Trims done, for tests and metrics. */
  trims = 0;

  constructor(
    private readonly idleMs: number,
    private readonly isIdle: () => boolean,
  ) {}

  /** The server went idle: trim in idleMs if it still is then. */
  idle(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.isIdle()) this.trim();
    }, this.idleMs).unref();
  }

  trim(): void {
    if (glibc()?.mallocTrim(0) !== undefined) this.trims++;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
