import type { Readable } from 'node:stream';

/**
 * grpc-js reads messages ahead of the handler up to Node's object-mode high-water mark (16), even
 * while the call is paused: with 32 MiB messages that is 512 MiB a stream that no budget sees. At
 * 1, a paused call holds one message and HTTP/2 flow control holds the client back. Node has no
 * public setter for a stream's mark.
 */
function readOneAhead(call: Readable): void {
  const state = (call as unknown as { _readableState?: { highWaterMark: number } })._readableState;
  if (state) state.highWaterMark = 1;
}

/**
 * A call's incoming messages as an async iterable. The call stays paused, and is resumed for one
 * message only when the handler asks for the next: a handler busy with a message holds the client
 * back. Ends when the client half-closes; throws the signal's reason once the signal aborts.
 * One reader at a time.
 */
export class IncomingMessages<T> implements AsyncIterableIterator<T> {
  /** Messages handed to the handler so far. */
  count = 0;
  /** The handler is waiting for the client's next message. */
  waiting = false;
  private readonly arrived: T[] = [];
  private ended = false;
  private wake: (() => void) | null = null;

  /** @param onWaiting called whenever `waiting` changes */
  constructor(
    private readonly call: Readable,
    private readonly signal: AbortSignal,
    private readonly onWaiting: () => void = () => {},
  ) {
    readOneAhead(call);
    // Paused before the 'data' listener is added, which would otherwise start the flow.
    call.pause();
    call.on('data', (message: T) => {
      call.pause();
      this.arrived.push(message);
      this.wake?.();
    });
    // A paused stream reports its end only once resumed, which the next ask does.
    call.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    signal.addEventListener('abort', () => this.wake?.(), { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    while (!this.signal.aborted) {
      if (this.arrived.length > 0) {
        this.count++;
        return { done: false, value: this.arrived.shift()! };
      }
      if (this.ended) return { done: true, value: undefined };
      await this.arrival();
    }
    throw this.signal.reason;
  }

  /** Leaving the loop early leaves the call paused; how the call ends is its handler's to say. */
  async return(): Promise<IteratorResult<T, undefined>> {
    return { done: true, value: undefined };
  }

  private async arrival(): Promise<void> {
    if (this.wake) throw new Error('IncomingMessages: one reader at a time');
    this.setWaiting(true);
    try {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.call.resume();
      });
    } finally {
      this.wake = null;
      this.setWaiting(false);
    }
  }

  private setWaiting(waiting: boolean): void {
    this.waiting = waiting;
    this.onWaiting();
  }
}
