/**
 * Resident shared buffers kept ready for large incoming messages. The message decoder needs a
 * buffer the moment a length prefix arrives, and a fresh one is filled at the cost of its first
 * touches, about 11 µs a page here: a resumed stream flushing its chunks into fresh message buffers
 * held the main thread for over a tenth of a second in the burst of large uploads
 * (docs/BENCHMARKS.md). A buffer from this stock was made and touched on another thread
 * (shared-buffer-thread.ts), so copying into it costs the copy alone. Each buffer taken is
 * replaced, up to a cap; a message the stock cannot fit gets an ordinary buffer, as before.
 */
import { takeSmallestFitting } from '../engine/index.js';

/** Sizes are rounded up to this, so that messages of nearly the same size share a size. */
const GRANULE = 1 << 20;

/** A buffer at most this much larger than the message is used: a 64 MB buffer is not spent on a 5 MB message. */
const MAX_OVERSIZE = 2;

export class WarmBufferStock {
  private readonly ready: SharedArrayBuffer[] = [];
  /** Bytes ready, and asked for and not yet made. */
  private readyBytes = 0;
  private pendingBytes = 0;

  /**
   * `make`: a resident buffer of that many bytes. `minBytes`: smaller messages are not served (an
   * ordinary allocation is cheap for them). `capBytes`: the stock holds at most this much, ready or asked for.
   */
  constructor(
    private readonly make: (bytes: number) => Promise<SharedArrayBuffer>,
    private readonly minBytes: number,
    private readonly capBytes: number,
  ) {}

  /** A ready buffer for a message of `bytes`, or undefined; either way one of its size is made for the next. */
  take(bytes: number): SharedArrayBuffer | undefined {
    if (bytes < this.minBytes) return undefined;
    const found = takeSmallestFitting(this.ready, bytes, MAX_OVERSIZE * bytes);
    if (found) this.readyBytes -= found.byteLength;
    this.refill(Math.ceil(bytes / GRANULE) * GRANULE);
    return found;
  }

  /** Let the garbage collector have every ready buffer (the server is idle). */
  drop(): void {
    this.ready.length = 0;
    this.readyBytes = 0;
  }

  get bytesReady(): number {
    return this.readyBytes;
  }

  private refill(size: number): void {
    if (this.readyBytes + this.pendingBytes + size > this.capBytes) return;
    this.pendingBytes += size;
    this.make(size).then(
      (buffer) => {
        this.pendingBytes -= size;
        this.ready.push(buffer);
        this.readyBytes += buffer.byteLength;
      },
      // None made: the next message of this size gets an ordinary buffer, and asks again.
      () => (this.pendingBytes -= size),
    );
  }
}
