/**
 * The gRPC server's HTTP/2 receive windows. Node's default is 64 KiB for the whole connection as
 * well as for each call: calls side by side then share 64 KiB, and a scan's upload over loopback
 * was mostly waiting for the server's WINDOW_UPDATE (docs/BENCHMARKS.md, "Tried and kept").
 * grpc-js (1.14) has no server option for the window, so the HTTP/2 servers it creates while
 * binding are given it on each new session: a WINDOW_UPDATE for the connection's window and a
 * SETTINGS frame for the streams'.
 */
import http2 from 'node:http2';

export interface ReceiveWindow {
  /** Bytes a client may send on one call before it waits for the server. */
  streamBytes: number;
  /** Bytes a client may send on one connection, all calls together. */
  connectionBytes: number;
}

/**
 * 16 MiB a connection, so that calls side by side never wait on each other's window, and 64 KiB a
 * call (HTTP/2's own default), so that a call refused from its headers (early-refusal.ts) has sent
 * at most 64 KiB of its image when the refusal comes: with 1 MiB a whole scan arrived first, and
 * reading and dropping it was two thirds of a refusal's cost on the main thread under overload
 * (docs/BENCHMARKS.md, "Tried and kept"). A call waiting for its upload turn (upload-gate.ts) holds no
 * more than that on the server either. An admitted upload gets its window back as it is read.
 */
export const DEFAULT_RECEIVE_WINDOW: ReceiveWindow = { streamBytes: 64 * 1024, connectionBytes: 16 * 1024 * 1024 };

/** Run `bind` (which creates grpc-js's HTTP/2 servers) so that those servers use `window`. */
export async function withReceiveWindow<T>(window: ReceiveWindow, bind: () => Promise<T>): Promise<T> {
  const createServer = http2.createServer;
  const patched = ((...args: Parameters<typeof http2.createServer>) => {
    const server = createServer(...args);
    server.on('session', (session) => {
      session.setLocalWindowSize(window.connectionBytes);
      session.settings({ initialWindowSize: window.streamBytes });
    });
    return server;
  }) as typeof http2.createServer;
  http2.createServer = patched;
  try {
    return await bind();
  } finally {
    http2.createServer = createServer;
  }
}
