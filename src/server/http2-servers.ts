/**
 * The HTTP/2 servers grpc-js creates while binding, plaintext and TLS alike. grpc-js (1.14) offers
 * no option for what the server needs of them (its receive windows: http2-receive-window.ts; its
 * header limits: metadata-size.ts), so the servers created meanwhile get `options` on top of
 * grpc-js's, and are handed to `onServer` as they are made.
 */
import http2 from 'node:http2';

export type GrpcHttp2Server = http2.Http2Server | http2.Http2SecureServer;

/** grpc-js's options for a server, with `extra` on top: their settings merged, not replaced. */
function withOptions<T extends http2.ServerOptions>(given: T | undefined, extra: http2.ServerOptions): T {
  return { ...given, ...extra, settings: { ...given?.settings, ...extra.settings } } as T;
}

/** Run `bind`, making each HTTP/2 server created meanwhile with `options` and telling `onServer` of it. */
export async function withHttp2Servers<T>(
  onServer: (server: GrpcHttp2Server) => void,
  bind: () => Promise<T>,
  options: http2.ServerOptions = {},
): Promise<T> {
  const { createServer, createSecureServer } = http2;
  // grpc-js passes its options, and no request handler: it takes each stream from the 'stream' event.
  http2.createServer = ((given?: http2.ServerOptions) => {
    const server = createServer(withOptions(given, options));
    onServer(server);
    return server;
  }) as typeof http2.createServer;
  http2.createSecureServer = ((given?: http2.SecureServerOptions) => {
    const server = createSecureServer(withOptions(given, options));
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
