/**
 * A large message's ordinary buffer made resident ahead of the bytes that go into it. The warm
 * stock lends resident buffers to a few messages at a time; the others get ordinary buffers, whose
 * pages the main thread faulted in as it copied each chunk, about 11 µs a page while the workers
 * ran: in the burst of a hundred 30 MB uploads over a hundred connections those faults were
 * 25,000-49,000 a second and most of the main thread's time, and another caller's GetServerInfo
 * waited up to 0.3-0.6 s (docs/BENCHMARKS.md, "Bursts of large uploads"). A thread of libuv's pool
 * takes them instead (madvise's MADV_POPULATE_WRITE), ahead of what has arrived by a quarter of it
 * and at most AHEAD_BYTES, so that a stalled upload holds at most that much more than it sent (what
 * the upload gate counts, upload-gate.ts, is what it sent); the decoder copies into the pages known
 * resident (incremental-decoder.ts) and keeps the rest as it came until they are.
 */
import { glibc } from './libc.js';

export const AHEAD_BYTES = 4 << 20;

/**
 * Populating holds the process's memory map for reading: a thread that maps or unmaps memory (the
 * main thread allocating or freeing a large buffer) waits until it is done. Whole windows populated
 * at once, the main thread spent seconds of the burst in uninterruptible sleep; a piece at a time,
 * it waits at most for one piece.
 */
const PIECE_BYTES = 256 << 10;

/** Makes the pages of a region resident; false where it cannot, so that none is asked again. */
export type Populate = (region: Uint8Array) => Promise<boolean>;

let refused = false;

/** glibc's populate; false where there is none, or the kernel refused it once (before Linux 5.14). */
export const populatePages: Populate = async (region) => {
  const libc = refused ? null : glibc();
  if (!libc) return false;
  return libc.populate(region).then(
    () => true,
    () => !(refused = true),
  );
};

export class PagesAhead {
  /** Bytes from the start whose pages are resident. */
  private resident = 0;
  /** How far the pages are wanted. */
  private wanted = 0;
  private running = false;

  constructor(
    private readonly buffer: Uint8Array,
    private readonly populate: Populate = populatePages,
  ) {}

  /** Bytes from the start of the buffer that may be copied into at the cost of the copy alone. */
  get residentBytes(): number {
    return this.resident;
  }

  /** `bytes` of the message have arrived: its pages are wanted a quarter of that past them, up to AHEAD_BYTES. */
  arrived(bytes: number): void {
    const ahead = Math.min(AHEAD_BYTES, Math.ceil(bytes / 4));
    this.wanted = Math.max(this.wanted, Math.min(this.buffer.byteLength, bytes + ahead));
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.resident < this.wanted) {
      const end = Math.min(this.wanted, this.resident + PIECE_BYTES);
      // Where pages cannot be populated, the copies fault them in as before.
      this.resident = (await this.populate(this.buffer.subarray(this.resident, end))) ? end : this.buffer.byteLength;
    }
    this.running = false;
  }
}
