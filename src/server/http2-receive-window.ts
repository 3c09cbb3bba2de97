/**
 * The gRPC server's HTTP/2 receive windows. Node's default is 64 KiB for the whole connection as
 * well as for each call: calls side by side then share 64 KiB, and a scan's upload over loopback
 * was mostly waiting for the server's WINDOW_UPDATE (docs/BENCHMARKS.md, "Tried and kept").
 * grpc-js (1.14) has no server option for the window, so the HTTP/2 servers it creates while
 * binding (http2-servers.ts) are given it on each new session: a WINDOW_UPDATE for the
 * connection's window and a SETTINGS frame for the streams'.
 */
import type http2 from 'node:http2';
import type { GrpcHttp2Server } from './http2-servers.js';

export interface ReceiveWindow {
  /** Bytes a client may send on one call before it waits for the server. */
  streamBytes: number;
  /** The same while calls are being refused for load (early-refusal.ts). */
  refusingStreamBytes: number;
  /** Bytes a client may send on one connection, all calls together. */
  connectionBytes: number;
}

/**
 * 16 MiB a connection, so that calls side by side never wait on each other's window, and 64 KiB a
 * call (HTTP/2's own default). A call refused from its headers (early-refusal.ts) has sent up to a
 * window of its image when the refusal comes, which the server reads and drops: with 1 MiB a whole
 * scan arrived first and that was two thirds of a refusal's cost on the main thread under overload;
 * while refusing, 16 KiB halves what is left of it (docs/BENCHMARKS.md, "Tried and kept"). A call
 * waiting for its upload turn (upload-gate.ts) holds no more than a window on the server either. An
 * admitted upload gets its window back as it is read.
 */
export const DEFAULT_RECEIVE_WINDOW: ReceiveWindow = {
  streamBytes: 64 * 1024,
  refusingStreamBytes: 16 * 1024,
  connectionBytes: 16 * 1024 * 1024,
};

/** The calls' window widens again once no call has been refused for load for this long. */
export const REFUSING_QUIET_MS = 1000;

/**
 * The window the server's sessions announce, narrowed while calls are refused for load. HTTP/2 sets
 * the window of every stream of a session at once (SETTINGS_INITIAL_WINDOW_SIZE), the open ones
 * included, so the calls admitted meanwhile upload with the narrow window too: over loopback that
 * costs them a few more round trips, against about half of each refusal's CPU.
 */
export class ReceiveWindowControl {
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private refusing = false;
  private lastRefusal = 0;

  constructor(
    readonly window: ReceiveWindow = DEFAULT_RECEIVE_WINDOW,
    private readonly quietMs = REFUSING_QUIET_MS,
  ) {}

  /** The per-call window that sessions announce now. */
  get streamBytes(): number {
    return this.refusing ? this.window.refusingStreamBytes : this.window.streamBytes;
  }

  /** Give each new session of `server` the windows. */
  follow(server: GrpcHttp2Server): void {
    server.on('session', (session) => this.adopt(session));
  }

  /** Give a new session the windows, and follow it until it closes. */
  adopt(session: http2.ServerHttp2Session): void {
    session.setLocalWindowSize(this.window.connectionBytes);
    session.settings({ initialWindowSize: this.streamBytes });
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
  }

  /** A call was refused for load: narrow the window now, widen it once refusals have stopped. */
  refused(): void {
    this.lastRefusal = performance.now();
    if (this.refusing) return;
    this.refusing = true;
    this.announce();
    this.widenWhenQuiet(this.quietMs);
  }

  private widenWhenQuiet(inMs: number): void {
    // Unreferenced: it never keeps a closing server's process alive.
    setTimeout(() => {
      const quiet = performance.now() - this.lastRefusal;
      if (quiet < this.quietMs) return this.widenWhenQuiet(this.quietMs - quiet);
      this.refusing = false;
      this.announce();
    }, inMs).unref();
  }

  private announce(): void {
    for (const session of this.sessions) {
      if (session.closed || session.destroyed) continue;
      try {
        session.settings({ initialWindowSize: this.streamBytes });
      } catch {
        // A client that has not acknowledged ten earlier SETTINGS (ERR_HTTP2_MAX_PENDING_SETTINGS_ACK)
        // keeps the window it has; it gets the next change once it catches up.
      }
    }
  }
}
