/**
 * How many requests one connection may upload at once. grpc-js reads every call's message whole
 * before its handler sees it, all calls of a connection at the same time: a client that opens a
 * hundred 30 MB calls at once had the server hold 3 GB of their chunks, then join them one after
 * another as they all completed together, a 16-20 s stall of the main thread (docs/RESOURCES.md,
 * "Uploads"). A call past the limit waits, its stream not read, so that HTTP/2's flow control holds
 * its bytes on the client; it is weighed for load (early-refusal.ts) only when its turn comes.
 * Counted per connection, a slow or stalled uploader delays only the calls it sent itself.
 */

export class UploadGate {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(private readonly perConnection: number) {}

  /**
   * Run `start` once `connection` has an upload free, now or later. The function returned, also
   * given to `start`, ends the upload (its message has arrived, or the call ended first) or takes
   * the call out of the queue; calling it again does nothing.
   */
  enter(connection: string, start: (release: () => void) => void): () => void {
    let state: 'waiting' | 'active' | 'done' = 'waiting';
    const begin = (): void => {
      state = 'active';
      this.active.set(connection, (this.active.get(connection) ?? 0) + 1);
      start(release);
    };
    const release = (): void => {
      if (state === 'waiting') {
        const queue = this.waiting.get(connection);
        queue?.splice(queue.indexOf(begin), 1);
        if (queue?.length === 0) this.waiting.delete(connection);
      } else if (state === 'active') {
        const left = this.active.get(connection)! - 1;
        if (left === 0) this.active.delete(connection);
        else this.active.set(connection, left);
        state = 'done';
        this.next(connection);
        return;
      }
      state = 'done';
    };
    if ((this.active.get(connection) ?? 0) < this.perConnection) begin();
    else {
      const queue = this.waiting.get(connection) ?? [];
      queue.push(begin);
      this.waiting.set(connection, queue);
    }
    return release;
  }

  /** Uploads in progress on `connection`, and calls waiting for one. */
  count(connection: string): { active: number; waiting: number } {
    return { active: this.active.get(connection) ?? 0, waiting: this.waiting.get(connection)?.length ?? 0 };
  }

  private next(connection: string): void {
    const queue = this.waiting.get(connection);
    const begin = queue?.shift();
    if (queue?.length === 0) this.waiting.delete(connection);
    begin?.();
  }
}
