/**
 * The HTTP/2 servers grpc-js creates while binding, plaintext and TLS alike. grpc-js (1.14) offers
 * no option for what the server needs of them (its receive windows: http2-receive-window.ts), so
 * the servers created meanwhile are handed to `onServer` as they are made.
 */
import http2 from 'node:http2';

export type GrpcHttp2Server = http2.Http2Server | http2.Http2SecureServer;

/** Run `bind`, telling `onServer` of each HTTP/2 server created meanwhile. */
export async function withHttp2Servers<T>(onServer: (server: GrpcHttp2Server) => void, bind: () => Promise<T>): Promise<T> {
  const { createServer, createSecureServer } = http2;
  http2.createServer = ((...args: Parameters<typeof http2.createServer>) => {
    const server = createServer(...args);
    onServer(server);
    return server;
  }) as typeof http2.createServer;
  http2.createSecureServer = ((...args: Parameters<typeof http2.createSecureServer>) => {
    const server = createSecureServer(...args);
    onServer(server);
    return server;
  }) as typeof http2.createSecureServer;
  try {
    return await bind();
  } finally {
    http2.createServer = createServer;
    http2.createSecureServer = createSecureServer;
  }
}
