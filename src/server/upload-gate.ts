/**
 * How many requests one connection, and the server, may upload at once, and how many bytes they may
 * hold together. grpc-js reads every call's message whole before its handler sees it, all calls of a
 * connection at the same time: a client that opens a hundred 30 MB calls at once had the server hold
 * 3 GB of their chunks, then join them one after another as they all completed together, a 16-20 s
 * stall of the main thread (docs/RESOURCES.md, "Uploads"). A call past the limit waits, its stream
 * not read, so that HTTP/2's flow control holds its bytes on the client; it is weighed for load
 * (early-refusal.ts) only when its turn comes. Counted per connection, a slow or stalled uploader
 * delays only the calls it sent itself. Past the server-wide count, a connection that is uploading
 * already waits for it to fall, but one that is not still starts one: forty connections stalling
 * their uploads then hold forty, not a hundred and sixty (docs/BENCHMARKS.md, "Stalled uploads on
 * many connections"), and no number of them keeps another connection from uploading.
 *
 * Nor, then, did anything bound what those connections hold: a hundred of them, each sending 30 MB
 * and stalling, held 3 GB. So once the uploads in progress hold `heldBytes`, the gate squeezes: no
 * upload starts, only the oldest `serverWide` of those in progress are read, the others paused in
 * place (their streams stop, HTTP/2 keeps the rest on the client), and one of those read that
 * receives less than `squeezedMinBytes` in `squeezedIdleMs` is stalled (`onStall`: its call is
 * ended), so that neither stalled nor trickling uploads can keep the others paused. Those read may
 * send their whole messages: sixteen stalled uploads are then ended at a time, where letting only
 * the oldest go on ended one at a time any that sent a little more before stalling
 * (docs/BENCHMARKS.md, "Tried and rejected"). Below `heldBytes` again, every upload is read and the
 * waiting ones start. One gate serves an instance's gRPC uploads (a unary call's request:
 * early-refusal.ts; each message of a tile stream: stream-uploads.ts) and its HTTP request bodies
 * (src/http/body-turn.ts) alike.
 */
import { loadRefusal, type OcrError } from '../shared/errors.js';

/** What an upload arrives on (a gRPC call's HTTP/2 stream, an HTTP request), which the gate stops reading while it squeezes. */
export interface UploadStream {
  pause(): void;
  resume(): void;
}

/** Whether `value`, found under a grpc-js call (call-chain.ts), is a stream the gate can pause. */
export const isUploadStream = (value: unknown): value is UploadStream =>
  typeof value === 'object' && value !== null && 'pause' in value && typeof value.pause === 'function' && 'resume' in value;

/** A call's place at the gate, from its `enter`. */
export interface UploadTicket {
  /** Its message's bytes that have arrived, reported as each chunk comes. */
  held(bytes: number): void;
  /** Since when (performance.now()) it has been read, or undefined while it waits or is paused. */
  readonly readingSince: number | undefined;
  /**
   * Its message has arrived but is still held unread, as a JSON body waiting for a thread to parse it
   * (src/http/json-images-thread.ts): its place goes to the next upload, its bytes stay counted
   * until `release`, and it is never paused nor stalled. Does nothing unless it is uploading.
   */
  arrived(): void;
  /** Ends the upload (its message has arrived, or the call ended first), or takes the call out of the queue; again does nothing. */
  release(): void;
}

export interface UploadGateLimits {
  perConnection: number;
  serverWide: number;
  /** What the uploads in progress may hold together before the gate squeezes. */
  heldBytes: number;
  /** While squeezed, how long an upload read may go without receiving `squeezedMinBytes`. */
  squeezedIdleMs: number;
  /** While squeezed, what an upload read must receive each `squeezedIdleMs`: a stream window's worth. */
  squeezedMinBytes: number;
}

/**
 * A server's, unless given others: a connection uploads 4 requests at once, past 16 on the server 1; while
 * squeezed, an upload read must receive 64 KiB (its call window, http2-receive-window.ts) every 2 s.
 * `heldBytes` is set with `holdAtMost` once the memory budget is known.
 */
const SERVER_UPLOAD_LIMITS: UploadGateLimits = {
  perConnection: 4,
  serverWide: 16,
  heldBytes: Infinity,
  squeezedIdleMs: 2_000,
  squeezedMinBytes: 64 * 1024,
};

/** Of the memory budget, what the uploads in progress may hold before the gate squeezes, by default (ServiceLimits.uploadMemoryShare). */
export const UPLOAD_MEMORY_SHARE = 0.25;

/** How often the uploads read are checked for stalls while squeezed. */
const SWEEP_MS = 250;

interface Upload extends UploadTicket {
  readonly connection: string;
  state: 'waiting' | 'active' | 'arrived' | 'done';
  bytes: number;
  /** Its bytes when it last received `squeezedMinBytes` (or started), and when (performance.now()). */
  progressBytes: number;
  progressAt: number;
  readingSince: number | undefined;
  readonly stream: UploadStream | undefined;
  readonly onStall: (() => void) | undefined;
  readonly begin: () => void;
}

export class UploadGate {
  private limits: UploadGateLimits;
  private readonly activeBy = new Map<string, number>();
  /** Calls waiting for a place, by connection, in the order the connections are next served. */
  private readonly waiting = new Map<string, Upload[]>();
  /** Uploads in progress, oldest first. */
  private readonly active = new Set<Upload>();
  private heldTotal = 0;
  private sweep: NodeJS.Timeout | undefined;
  /** Told of the bytes each upload receives, as they arrive (memory-trim.ts). */
  onReceived: ((bytes: number) => void) | undefined;
  /**
   * Told when its last upload in progress ends with none waiting (memory-trim.ts): a burst of
   * requests refused before any call ran (bad input, too large) ends no call to say the server is idle.
   */
  onEmpty: (() => void) | undefined;

  constructor(limits: Partial<UploadGateLimits> = {}) {
    this.limits = { ...SERVER_UPLOAD_LIMITS, ...limits };
  }

  /**
   * Run `start` once `connection` has an upload free, now or later. `stream` is paused and resumed
   * while the gate squeezes; `onStall` is called when the upload stalls meanwhile.
   */
  enter(
    connection: string,
    start: (ticket: UploadTicket) => void,
    { stream, onStall }: { stream?: UploadStream; onStall?: () => void } = {},
  ): UploadTicket {
    const upload: Upload = {
      connection,
      state: 'waiting',
      bytes: 0,
      progressBytes: 0,
      progressAt: 0,
      readingSince: undefined,
      stream,
      onStall,
      begin: () => {
        upload.state = 'active';
        upload.readingSince = upload.progressAt = performance.now();
        this.activeBy.set(connection, (this.activeBy.get(connection) ?? 0) + 1);
        this.active.add(upload);
        start(upload);
      },
      held: (bytes) => {
        if (upload.state !== 'active') return;
        // Held bytes fall to 0 as a message completes and passes to its call.
        if (bytes > upload.bytes) this.onReceived?.(bytes - upload.bytes);
        this.heldTotal += bytes - upload.bytes;
        upload.bytes = bytes;
        if (bytes < upload.progressBytes || bytes - upload.progressBytes >= this.limits.squeezedMinBytes) {
          upload.progressBytes = bytes;
          upload.progressAt = performance.now();
        }
        if (!this.squeezed && this.heldTotal >= this.limits.heldBytes) this.squeeze();
      },
      arrived: () => this.endUpload(upload, 'arrived'),
      release: () => this.release(upload),
    };
    if (this.mayStart(connection)) upload.begin();
    else {
      const queue = this.waiting.get(connection) ?? [];
      queue.push(upload);
      this.waiting.set(connection, queue);
    }
    return upload;
  }

  /** Uploads in progress on `connection`, and calls waiting for one. */
  count(connection: string): { active: number; waiting: number } {
    return { active: this.activeBy.get(connection) ?? 0, waiting: this.waiting.get(connection)?.length ?? 0 };
  }

  /** Uploads in progress on every connection. */
  get uploading(): number {
    return this.active.size;
  }

  /** What the uploads in progress hold, as their chunks were reported. */
  get heldBytes(): number {
    return this.heldTotal;
  }

  /** Whether it squeezes: no upload starts, and only the oldest are read. */
  get squeezed(): boolean {
    return this.sweep !== undefined;
  }

  /** Squeeze from `bytes` held by the uploads in progress on. */
  holdAtMost(bytes: number): void {
    this.limits = { ...this.limits, heldBytes: bytes };
  }

  /** The answer to an upload it stalled (`onStall`): a retry may find the memory the stalled ones held free again. */
  stallError(): OcrError {
    const { squeezedIdleMs, squeezedMinBytes, heldBytes } = this.limits;
    return loadRefusal(
      `less than ${Math.round(squeezedMinBytes / 1024)} KiB of this request in ${squeezedIdleMs / 1000} s while the requests ` +
        `being read held all of this server's memory for uploads (${Math.round(heldBytes / 2 ** 20)} MiB); ` +
        `send the request without pausing, or retry it in ${squeezedIdleMs} ms`,
      squeezedIdleMs,
    );
  }

  private release(upload: Upload): void {
    if (upload.state === 'waiting') {
      const queue = this.waiting.get(upload.connection);
      queue?.splice(queue.indexOf(upload), 1);
      if (queue?.length === 0) this.waiting.delete(upload.connection);
    } else if (upload.state === 'active') {
      this.endUpload(upload, 'done');
      return;
    } else if (upload.state === 'arrived') {
      this.heldTotal -= upload.bytes;
      upload.state = 'done';
      if (this.squeezed && this.heldTotal < this.limits.heldBytes) this.unsqueeze();
      this.emptied();
      return;
    }
    upload.state = 'done';
  }

  /** An upload in progress ends: its place to the next; its bytes no longer counted where it is `done`, still where it has `arrived`. */
  private endUpload(upload: Upload, state: 'arrived' | 'done'): void {
    if (upload.state !== 'active') return;
    const left = this.activeBy.get(upload.connection)! - 1;
    if (left === 0) this.activeBy.delete(upload.connection);
    else this.activeBy.set(upload.connection, left);
    this.active.delete(upload);
    if (state === 'done') this.heldTotal -= upload.bytes;
    upload.state = state;
    if (this.squeezed) {
      if (this.heldTotal < this.limits.heldBytes) this.unsqueeze();
      else if (upload.readingSince !== undefined) this.readOldest();
    } else this.wake(upload.connection);
    this.emptied();
  }

  /** Nothing uploading, waiting or held: onEmpty. */
  private emptied(): void {
    if (this.active.size === 0 && this.waiting.size === 0 && this.heldTotal === 0) this.onEmpty?.();
  }

  private mayStart(connection: string): boolean {
    if (this.squeezed) return false;
    const active = this.activeBy.get(connection) ?? 0;
    return active === 0 || (active < this.limits.perConnection && this.active.size < this.limits.serverWide);
  }

  /** Pause every upload but the oldest `serverWide`, and watch those for stalls. */
  private squeeze(): void {
    this.sweep = setInterval(() => this.stallCheck(), SWEEP_MS).unref();
    this.readOldest();
  }

  private unsqueeze(): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
    for (const upload of this.active) this.resume(upload);
    // Connections that have none in progress may be waiting too: every one is looked at.
    this.wake(undefined);
  }

  /** Read the oldest `serverWide` uploads in progress and pause the rest. */
  private readOldest(): void {
    let reading = 0;
    for (const upload of this.active) {
      if (reading < this.limits.serverWide) {
        this.resume(upload);
        reading++;
      } else if (upload.readingSince !== undefined) {
        upload.readingSince = undefined;
        upload.stream?.pause();
      }
    }
  }

  private resume(upload: Upload): void {
    if (upload.readingSince !== undefined) return;
    upload.readingSince = performance.now();
    upload.stream?.resume();
  }

  private stallCheck(): void {
    const now = performance.now();
    for (const upload of [...this.active]) {
      if (upload.readingSince === undefined) continue;
      if (now - Math.max(upload.progressAt, upload.readingSince) >= this.limits.squeezedIdleMs) upload.onStall?.();
    }
  }

  /**
   * An upload on `released` ended: its own next call first, then the other connections', one each
   * in turn; `undefined`: every connection waiting is looked at.
   */
  private wake(released: string | undefined): void {
    if (released !== undefined && this.waiting.has(released) && this.mayStart(released)) this.startNext(released);
    // Outside a squeeze a connection waits only while it uploads already, so none other may start at the count.
    if (released !== undefined && this.active.size >= this.limits.serverWide) return;
    for (const connection of [...this.waiting.keys()]) {
      if (released !== undefined && this.active.size >= this.limits.serverWide) break;
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
    const upload = queue.shift()!;
    if (queue.length === 0) this.waiting.delete(connection);
    upload.begin();
  }
}
