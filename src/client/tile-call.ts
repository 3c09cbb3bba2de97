/**
 * A RecognizeTiles call as promises and an async iterable: writes wait for grpc-js to take more
 * (so a large image is not buffered whole), and reading ends with the stream or throws an
 * OcrCallError.
 */

import { once } from 'node:events';
import { status as Status, type ClientDuplexStream } from '@grpc/grpc-js';

import type { TileRequest, TileResponse } from '../gen/ocr/v1/ocr.js';
import { callerCancelled, OcrCallError, toOcrCallError } from './errors.js';

const METHOD = 'RecognizeTiles';

export class TileCall implements AsyncIterable<TileResponse> {
  private failure: OcrCallError | null = null;

  /** `signal`: the caller's, whose abort cancels the call (OcrClient.recognizeTiles), to word its CANCELLED so. */
  constructor(
    private readonly call: ClientDuplexStream<TileRequest, TileResponse>,
    signal?: AbortSignal,
  ) {
    // Without a listener an 'error' event would crash the process; the reader sees it too.
    call.on('error', (err: unknown) => {
      const failure = toOcrCallError(err, METHOD);
      this.failure ??= signal?.aborted && failure.code === 'CANCELLED' ? callerCancelled(METHOD, signal, failure.metadata) : failure;
    });
  }

  /** The status the call failed with, once it has. */
  get error(): OcrCallError | null {
    return this.failure;
  }

  /** Sends one tile; resolves when grpc-js will take the next one, rejects if the call has failed. */
  async write(tile: TileRequest): Promise<void> {
    this.throwIfUnwritable();
    if (this.call.write(tile)) return;
    const closed = new AbortController();
    try {
      // 'close' as well as 'drain': a call that fails while its buffer is full never drains.
      await Promise.race([once(this.call, 'drain', { signal: closed.signal }), once(this.call, 'close', { signal: closed.signal })]);
    } catch (err) {
      if (this.failure) throw this.failure;
      throw toOcrCallError(err, METHOD);
    } finally {
      closed.abort();
    }
    this.throwIfUnwritable();
  }

  /** Half-closes the call: no more tiles; the server finishes the images it has and ends. */
  end(): void {
    if (!this.call.writableEnded && !this.call.destroyed) this.call.end();
  }

  /** Cancels the call; reading then throws CANCELLED. */
  cancel(): void {
    this.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TileResponse> {
    try {
      for await (const message of this.call) yield message as TileResponse;
    } catch (err) {
      throw this.failure ?? toOcrCallError(err, METHOD);
    }
    // A stream can end without an 'error' reaching the iterator; never report such an end as success.
    if (this.failure) throw this.failure;
  }

  private throwIfUnwritable(): void {
    if (this.failure) throw this.failure;
    if (this.call.writableEnded || this.call.destroyed) {
      throw new OcrCallError(Status.FAILED_PRECONDITION, 'the tile stream is already closed', { method: METHOD });
    }
  }
}
