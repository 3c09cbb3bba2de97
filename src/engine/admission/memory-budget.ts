/**
 * The instance's memory budget: what admitted work may hold at once (decoded pixels, detector
 * activations, tile canvases, tiles waiting to be read). A request that does not fit waits, holding
 * only its encoded bytes, until earlier holders release theirs; one that could never fit is refused
 * at once. Waiters are served in order of their priority (lower first), then of arrival, so a large
 * request is not starved by a stream of small ones behind it.
 */
import { OcrError, resourceExhausted } from '../../shared/errors.js';

/** What a worker's calls may hold: two pages in its pipeline of up to 9 Mpx each (108 + 22 MB), and room. */
const BUDGET_PER_WORKER = 256 * 1024 * 1024;
/** Not less, where memory allows: a page at --max-pixels (40 Mpx: 480 MB decoded, 22 MB for its detector) fits whole. */
const MIN_BUDGET = 512 * 1024 * 1024;
const MAX_BUDGET = 1024 * 1024 * 1024;

/**
 * What a worker takes of the machine's memory under load: its models and arenas (about 55 MB idle),
 * its share of the memory budget and of the uploads', and its pipeline's pages; a two-worker server
 * ran at about 1.1 GiB under load. Under a memory limit with no CPU quota (Kubernetes' usual
 * `limits.memory` alone), one worker per host core overran the limit: 64 of them in 2 GiB.
 */
const MEMORY_PER_WORKER = 768 * 1024 * 1024;

/** One worker per core, but no more than `totalBytes` (the machine's memory, or its cgroup's limit) holds under load; at least one. */
export function defaultWorkerCount(cores: number, totalBytes: number): number {
  return Math.max(1, Math.min(cores, Math.floor(totalBytes / MEMORY_PER_WORKER)));
}

/**
 * 256 MiB a worker, at least 512 MiB and at most 1 GiB, within an eighth of the machine's memory (a
 * container's limit where lower: machineMemoryBytes).
 * What admitted calls hold comes on top of the uploads' share (a quarter of it), the stock of
 * message buffers, and the arenas the decoders and the models leave behind; a burst of hostile
 * calls must stay within 1.5 GB above the level of a server in service (issue 15). A hundred 30 MB
 * calls over a hundred connections peaked 1.82 GB above it with 1 GiB on two workers, 1.18-1.20 GB
 * with 512 MiB (docs/BENCHMARKS.md, "The level before, and the budget's default"); and two workers
 * cannot use more: past what their pipelines hold, a call waits for a worker whether or not its
 * memory is reserved.
 */
export function defaultMemoryBudget(totalBytes: number, workers: number): number {
  return Math.min(Math.floor(totalBytes / 8), Math.max(MIN_BUDGET, Math.min(MAX_BUDGET, workers * BUDGET_PER_WORKER)));
}

export interface Reservation {
  readonly bytes: number;
  /** Give the bytes back; calling it again does nothing. */
  release(): void;
}

interface Waiter {
  bytes: number;
  priority: number;
  seq: number;
  grant: (r: Reservation) => void;
  fail: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** What a page, or a tile stream's image, larger than the whole budget is told to do. */
const PAGE_ADVICE = 'send a smaller image, lower max_side_len / min_side_len, or send it as tiles';

export interface ReserveOptions {
  /** Lower is served first; equal priorities in arrival order. */
  priority?: number;
  signal?: AbortSignal;
  /** What the bytes are for, in the refusal a request that can never fit gets. */
  what?: string;
}

export class MemoryBudget {
  private used = 0;
  private seq = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Bytes of the requests waiting for room. */
  get waitingBytes(): number {
    return this.waiters.reduce((sum, w) => sum + w.bytes, 0);
  }

  /** Bytes at once if they fit now and nobody waits ahead with an equal or lower priority; else null. */
  tryReserve(bytes: number, priority = Number.MAX_SAFE_INTEGER, what?: string): Reservation | null {
    this.checkFits(bytes, what);
    return this.fitsNow(bytes, priority) ? this.grant(bytes) : null;
  }

  /** Whether `bytes` would be granted at once: they fit, and nobody waits ahead with an equal or lower priority. */
  fitsNow(bytes: number, priority = Number.MAX_SAFE_INTEGER): boolean {
    return this.used + bytes <= this.limitBytes && !this.waiters.some((w) => w.priority <= priority);
  }

  /**
   * Bytes once they fit, in order. RESOURCE_EXHAUSTED at once for more than the whole budget;
   * CANCELLED if the signal fires while waiting.
   */
  reserve(bytes: number, options: ReserveOptions = {}): Promise<Reservation> {
    try {
      this.checkFits(bytes, options.what);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const priority = options.priority ?? Number.MAX_SAFE_INTEGER;
    const now = this.tryReserve(bytes, priority);
    if (now) return Promise.resolve(now);
    if (options.signal?.aborted) return Promise.reject(new OcrError('CANCELLED', 'request cancelled while waiting for memory'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        priority,
        seq: this.seq++,
        grant: resolve,
        fail: reject,
        signal: options.signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i < 0) return;
          this.waiters.splice(i, 1);
          reject(new OcrError('CANCELLED', 'request cancelled while waiting for memory'));
          this.serve();
        },
      };
      const at = this.waiters.findIndex((w) => w.priority > priority);
      this.waiters.splice(at < 0 ? this.waiters.length : at, 0, waiter);
      options.signal?.addEventListener('abort', waiter.onAbort, { once: true });
    });
  }

  /** RESOURCE_EXHAUSTED for more than the whole budget, with what to do: `advice`, a page's unless given. */
  checkFits(bytes: number, what = 'this request', advice = PAGE_ADVICE): void {
    if (bytes > this.limitBytes) {
      throw resourceExhausted(
        `${what} needs about ${mib(bytes)} MiB of memory, more than this server's whole budget of ${mib(this.limitBytes)} MiB ` +
          `(--memory-budget-mb); ${advice}`,
      );
    }
  }

  private grant(bytes: number): Reservation {
    this.used += bytes;
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        this.used -= bytes;
        this.serve();
      },
    };
  }

  /** Grant waiters in order while the first fits. */
  private serve(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.bytes <= this.limitBytes) {
      const next = this.waiters.shift()!;
      next.signal?.removeEventListener('abort', next.onAbort);
      next.grant(this.grant(next.bytes));
    }
  }
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);
