/**
 * What one RecognizeTiles stream holds of the instance's memory budget (tile canvases, decoded tiles
 * waiting to be read). Every reservation the stream takes goes through here, so closing the stream
 * gives back whatever its holders have not, in one place, whichever way the stream ended.
 */
import type { MemoryBudget, Reservation } from '../engine/index.js';
import { loadRefusal, OcrError } from '../shared/errors.js';

export class StreamMemory {
  private readonly held = new Set<Reservation>();
  private bytes = 0;
  private closed = false;
  private releaseWaiters: (() => void)[] = [];

  /**
   * @param shareBytes what the stream may hold before it stops reading more tiles
   * @param maxWaitMs how long one reservation may wait for room: streams holding canvases while they
   *   wait for each other's room would otherwise wait forever
   * @param retryAfterMs when a reservation that waited that long, refused for load, may try again
   * @param waitHolding runs a wait for room, the tile's file held meanwhile: bounded with the calls'
   *   waiting files (Admission.waitHoldingFiles), since a stream waits with the message it read
   */
  constructor(
    private readonly budget: MemoryBudget,
    readonly shareBytes: number,
    private readonly maxWaitMs: number,
    private readonly signal: AbortSignal,
    private readonly retryAfterMs: () => number = () => MIN_RETRY_AFTER_MS,
    private readonly waitHolding: (fileBytes: number, wait: () => Promise<Reservation>) => Promise<Reservation> = (_, wait) => wait(),
  ) {}

  get heldBytes(): number {
    return this.bytes;
  }

  /** The stream holds its share: it should read no further until something is given back. */
  get full(): boolean {
    return this.bytes >= this.shareBytes;
  }

  /**
   * Bytes from the budget, once they fit. RESOURCE_EXHAUSTED at once when they exceed the whole
   * budget (naming `what`), without a retry hint; after maxWaitMs without room, as a refusal for
   * load, with one; also as one at once where the files waiting for room, with `fileBytes` (what the
   * stream holds of a tile's file meanwhile), would be past their bound; CANCELLED when the stream
   * closes first.
   */
  async take(bytes: number, what: string, fileBytes = 0): Promise<Reservation> {
    if (this.closed) throw closedError();
    // More than the whole budget is refused as such, never as a wait past the files' bound.
    this.budget.checkFits(bytes, what);
    const reserve = (): Promise<Reservation> => this.reserve(bytes, what);
    const reservation = this.budget.fitsNow(bytes) ? await reserve() : await this.waitHolding(fileBytes, reserve);
    // The stream may have closed while this waited; what it closed with was already given back.
    if (this.closed) {
      reservation.release();
      throw closedError();
    }
    this.held.add(reservation);
    this.bytes += reservation.bytes;
    return { bytes: reservation.bytes, release: () => this.give(reservation) };
  }

  /** Bytes from the budget once they fit, waiting at most maxWaitMs. */
  private async reserve(bytes: number, what: string): Promise<Reservation> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.maxWaitMs);
    try {
      return await this.budget.reserve(bytes, { signal: AbortSignal.any([this.signal, timeout.signal]), what });
    } catch (err) {
      if (timeout.signal.aborted && !this.signal.aborted) {
        // Others hold the memory, and give it back as their calls end: a retry, here or on another
        // instance, may fit. Without a hint (grpc-retry-pushback-ms -1) the SDK and grpc-js never retry.
        const retryAfterMs = Math.max(MIN_RETRY_AFTER_MS, Math.ceil(this.retryAfterMs()));
        throw loadRefusal(
          `${what} waited ${this.maxWaitMs / 1000} s for ${mib(bytes)} MiB of memory while the server's ` +
            `${mib(this.budget.limitBytes)} MiB budget stayed full with other calls; retry in ${retryAfterMs} ms or on another ` +
            'instance, or send smaller images or fewer at once',
          retryAfterMs,
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves the next time the stream gives bytes back (or closes). */
  released(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.releaseWaiters.push(resolve));
  }

  /** Gives back everything still held; later reservations are refused. */
  close(): void {
    this.closed = true;
    for (const reservation of [...this.held]) this.give(reservation);
    this.wake();
  }

  private give(reservation: Reservation): void {
    if (!this.held.delete(reservation)) return;
    this.bytes -= reservation.bytes;
    reservation.release();
    this.wake();
  }

  private wake(): void {
    const waiters = this.releaseWaiters;
    this.releaseWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** The least a refusal for want of memory asks a caller to wait: memory comes back as calls end, not at once. */
const MIN_RETRY_AFTER_MS = 1000;

const closedError = (): OcrError => new OcrError('CANCELLED', 'the tile stream closed while waiting for memory');

export const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);
