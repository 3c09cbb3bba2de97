/**
 * Large copies on the main thread, a slice per turn of the event loop. When memory frees, every call
 * waiting for it resumes in the same drain of the microtask queue, and each copied its file
 * (40-140 ms for 30 MB into pages not yet touched) before any socket was read again: in the burst of
 * a hundred 30 MB calls another caller waited 1.5 s for GetServerInfo, still 0.4 s with one whole
 * copy a turn (docs/BENCHMARKS.md, "Bursts of large uploads"). A turn starts from setImmediate
 * after the previous one, so the event loop polls its sockets between two slices.
 */

/** Bytes copied in one turn: at most about 10 ms into fresh pages, a fraction of that into pooled ones. */
const COPY_SLICE_BYTES = 4 << 20;

export class MainThreadTurns {
  private last: Promise<void> = Promise.resolve();

  /** `source` into the start of `target`, a slice a turn; slices of concurrent copies take turns. */
  async copy(target: Uint8Array, source: Uint8Array): Promise<void> {
    for (let at = 0; at < source.length; at += COPY_SLICE_BYTES) {
      await this.take();
      target.set(source.subarray(at, at + COPY_SLICE_BYTES), at);
    }
  }

  /** Resolves when it is this caller's turn: after every earlier turn, in an event loop iteration of its own. */
  take(): Promise<void> {
    const turn = this.last.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.last = turn;
    return turn;
  }
}
