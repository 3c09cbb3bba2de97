/**
 * Reusable shared memory for the images workers read: decoded pixels, and encoded files to decode.
 * A SharedArrayBuffer is posted without a copy; a fresh one costs far more to fill than one already
 * in use, nearly all of it the first touch of new pages (docs/BENCHMARKS.md, "Tried and kept";
 * 70-85 ms for a 30 MB file). Released buffers wait in the pool for the next image of a similar size.
 */
import type { SharedImage } from './worker-protocol.js';

/** Sizes are rounded up to this, so that images of nearly the same size share buffers. */
const GRANULE = 64 * 1024;

/** Idle buffers at most this much larger than the request are reused: a 26 MB buffer is not spent on a 50 kB line. */
const MAX_OVERSIZE = 2;

/**
 * The smallest of `buffers` that holds `bytes` and is at most `mostBytes` long (a large buffer is
 * not spent on a small image), taken out of the list; undefined if none is.
 */
export function takeSmallestFitting(buffers: SharedArrayBuffer[], bytes: number, mostBytes: number): SharedArrayBuffer | undefined {
  let best = -1;
  buffers.forEach((b, i) => {
    if (b.byteLength >= bytes && b.byteLength <= mostBytes && (best < 0 || b.byteLength < buffers[best]!.byteLength)) best = i;
  });
  return best < 0 ? undefined : buffers.splice(best, 1)[0];
}

export class SharedImagePool {
  /** Idle buffers, least recently released first. */
  private readonly idle: SharedArrayBuffer[] = [];
  private idleBytes = 0;

  /**
   * `maxIdleBytes`: idle buffers beyond this are dropped, oldest first, for the garbage collector.
   * `fresh`: where a buffer comes from when none idle fits (shared-buffer-thread.ts makes them off
   * the main thread).
   */
  constructor(
    private readonly maxIdleBytes: number,
    private readonly fresh: (bytes: number) => Promise<SharedArrayBuffer> = (bytes) => Promise.resolve(new SharedArrayBuffer(bytes)),
  ) {}

  /**
   * Pooled shared memory for an encoded file of `length` bytes that a worker will decode, held once
   * by the caller: a one-row, one-channel image of its bytes (`bytesOf` views exactly them).
   */
  async forBytes(length: number): Promise<SharedImageLease> {
    const buffer = await this.acquire(length);
    return new SharedImageLease({ buffer, width: length, height: 1, channels: 1 }, () => this.release(buffer));
  }

  /** Pooled shared memory for an image of this size that a worker will fill, held once by the caller. */
  async blank(width: number, height: number, channels: 1 | 3): Promise<SharedImageLease> {
    const buffer = await this.acquire(width * height * channels);
    return new SharedImageLease({ buffer, width, height, channels }, () => this.release(buffer));
  }

  /** Let the garbage collector have every idle buffer. */
  dropIdle(): void {
    this.idle.length = 0;
    this.idleBytes = 0;
  }

  get idleBufferBytes(): number {
    return this.idleBytes;
  }

  private async acquire(bytes: number): Promise<SharedArrayBuffer> {
    const idle = takeSmallestFitting(this.idle, bytes, MAX_OVERSIZE * Math.max(bytes, GRANULE));
    if (idle) this.idleBytes -= idle.byteLength;
    return idle ?? (await this.fresh(Math.max(GRANULE, Math.ceil(bytes / GRANULE) * GRANULE)));
  }

  private release(buffer: SharedArrayBuffer): void {
    this.idle.push(buffer);
    this.idleBytes += buffer.byteLength;
    while (this.idleBytes > this.maxIdleBytes) this.idleBytes -= this.idle.shift()!.byteLength;
  }
}

/** The bytes a `forBytes` lease holds, without the rest of its pooled buffer. */
export const bytesOf = (lease: SharedImageLease): Uint8Array => new Uint8Array(lease.image.buffer, 0, lease.image.width);

/**
 * A pooled image and who still reads it. The buffer goes back to the pool only when the caller and
 * every worker task that was given it are done: a task that is already running when its request is
 * cancelled still reads the pixels until it finishes.
 */
export class SharedImageLease {
  private holders = 1;

  constructor(
    readonly image: SharedImage,
    private readonly onFree: () => void,
  ) {}

  /** One more reader; call the function it returns when that reader is done. */
  hold(): () => void {
    if (this.holders === 0) throw new Error('shared image used after it was returned to the pool');
    this.holders++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.drop();
    };
  }

  /** The caller's own hold. */
  release(): void {
    this.drop();
  }

  private drop(): void {
    if (this.holders === 0) return;
    if (--this.holders === 0) this.onFree();
  }
}
