/**
 * How many requests one connection, and the server, may upload at once. grpc-js reads every call's
 * message whole before its handler sees it, all calls of a connection at the same time: a client
 * that opens a hundred 30 MB calls at once had the server hold 3 GB of their chunks, then join them
 * one after another as they all completed together, a 16-20 s stall of the main thread
 * (docs/RESOURCES.md, "Uploads"). A call past the limit waits, its stream not read, so that HTTP/2's
 * flow control holds its bytes on the client; it is weighed for load (early-refusal.ts) only when
 * its turn comes. Counted per connection, a slow or stalled uploader delays only the calls it sent
 * itself. Past the server-wide count, a connection that is uploading already waits for it to fall,
 * but one that is not still starts one: forty connections stalling their uploads then hold forty,
 * not a hundred and sixty (half the memory, docs/BENCHMARKS.md, "Stalled uploads on many
 * connections"), and no number of them keeps another connection from uploading.
 */

export class UploadGate {
  private readonly active = new Map<string, number>();
  /** Calls waiting for a place, by connection, in the order the connections are next served. */
  private readonly waiting = new Map<string, Array<() => void>>();
  private total = 0;

  constructor(
    private readonly perConnection: number,
    private readonly serverWide: number,
  ) {}

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
      this.total++;
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
        this.total--;
        state = 'done';
        this.wake(connection);
        return;
      }
      state = 'done';
    };
    if (this.mayStart(connection)) begin();
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

  /** Uploads in progress on every connection. */
  get uploading(): number {
    return this.total;
  }

  private mayStart(connection: string): boolean {
    const active = this.active.get(connection) ?? 0;
    return active === 0 || (active < this.perConnection && this.total < this.serverWide);
  }

  /** An upload on `released` ended: its own next call first, then the other connections', one each in turn. */
  private wake(released: string): void {
    if (this.waiting.has(released) && this.mayStart(released)) this.startNext(released);
    // A connection waits only while it uploads already, so none other may start at the count.
    if (this.total >= this.serverWide) return;
    for (const connection of [...this.waiting.keys()]) {
      if (this.total >= this.serverWide) break;
      if (connection === released || !this.mayStart(connection)) continue;
      this.startNext(connection);
      const queue = this.waiting.get(connection);
      // Served: behind the others for the next place.
      if (queue) {
        this.waiting.delete(connection);
        this.waiting.set(connection, queue);
      }
    }
  }

  private startNext(connection: string): void {
    const queue = this.waiting.get(connection)!;
    const begin = queue.shift()!;
    if (queue.length === 0) this.waiting.delete(connection);
    begin();
  }
}
