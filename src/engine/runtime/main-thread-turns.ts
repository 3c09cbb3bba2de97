/**
 * Large copies on the main thread, one per turn of the event loop. When memory frees, every call
 * waiting for it resumes in the same drain of the microtask queue, and each copied its file
 * (40-80 ms for 30 MB) before any socket was read again: in the burst of a hundred 30 MB calls
 * another caller waited 1.5 s for GetServerInfo (docs/BENCHMARKS.md, "Bursts of large uploads").
 * A turn starts from setImmediate after the previous one, so the event loop polls its sockets
 * between two copies.
 */
export class MainThreadTurns {
  private last: Promise<void> = Promise.resolve();

  /** Resolves when it is this caller's turn: after every earlier turn, in an event loop iteration of its own. */
  take(): Promise<void> {
    const turn = this.last.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.last = turn;
    return turn;
  }
}
