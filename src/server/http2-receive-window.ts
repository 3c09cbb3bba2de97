/**
 * A larger HTTP/2 receive window for the gRPC server. With Node's default (64 KiB per stream and per
 * connection) a client may send only 64 KiB before it waits for the server's WINDOW_UPDATE, so a
 * scan's upload over loopback was mostly waiting (docs/BENCHMARKS.md, "Tried and kept").
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
 * 1 MiB a call: a call whose upload waits its turn (upload-gate.ts) has a window's worth of chunks
 * read and buffered, all handed over at once when its turn comes; with 4 MiB, several such turns
 * in one iteration of the event loop held it 100-150 ms in the burst of large uploads
 * (docs/BENCHMARKS.md). A scan of up to 1 MiB still arrives without waiting for the server.
 */
export const DEFAULT_RECEIVE_WINDOW: ReceiveWindow = { streamBytes: 1024 * 1024, connectionBytes: 16 * 1024 * 1024 };

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
