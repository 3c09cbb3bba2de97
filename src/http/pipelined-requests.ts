/**
 * HTTP/1.1 pipelining bounded as HTTP/2's concurrent streams are (docs/RESOURCES.md, "Connections").
 * Node hands the app every request of what it reads from a connection at once, whether or not the
 * client reads the answers: 64 KB of pipelined `GET /api/info` is about 1,900 requests, each run
 * through the app, its answer kept for a client that never reads it. Sixty-four connections that
 * sent 256 KB each and read nothing held another caller's /api/info 68 s and took RSS from 0.3 to
 * 2.5 GB, which stayed. So a connection's requests reach the app a few at a time, the next only once
 * the client takes its answers (its socket drained), as nginx reads a connection's next request only
 * after it has answered the last; a connection with more waiting than any real client pipelines is closed.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** A connection's requests in the app at once: pipelining clients (wrk, Go's and Python's) send a few ahead. */
export const MAX_OPEN_REQUESTS = 16;

/** A connection's requests waiting for their turn; past it, the connection is closed. */
export const MAX_WAITING_REQUESTS = 128;

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

interface Connection {
  open: number;
  waiting: [IncomingMessage, ServerResponse][];
}

/**
 * Puts the bound between `server` and the 'request' listeners it has (Fastify's); requests it
 * emits itself later (app.ts' Expect handling) pass through it too.
 */
export function boundPipelining(server: Server): void {
  const handlers = server.listeners('request') as Handler[];
  server.removeAllListeners('request');
  const connections = new WeakMap<Socket, Connection>();

  const start = (socket: Socket, connection: Connection, request: IncomingMessage, response: ServerResponse): void => {
    connection.open++;
    response.once('close', () => {
      connection.open--;
      next(socket, connection);
    });
    for (const handler of handlers) handler.call(server, request, response);
  };
  /** The waiting requests that may start: while few are open, and the client reads what was answered. */
  const next = (socket: Socket, connection: Connection): void => {
    // A client gone has no one to answer: what it left waiting is not run.
    if (socket.destroyed) connection.waiting = [];
    while (connection.waiting.length > 0 && connection.open < MAX_OPEN_REQUESTS && !socket.writableNeedDrain) {
      const [request, response] = connection.waiting.shift()!;
      start(socket, connection, request, response);
    }
  };
  const connectionOf = (socket: Socket): Connection => {
    let connection = connections.get(socket);
    if (!connection) {
      const created: Connection = { open: 0, waiting: [] };
      connections.set(socket, created);
      socket.on('drain', () => next(socket, created));
      connection = created;
    }
    return connection;
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    const connection = connectionOf(socket);
    connection.waiting.push([request, response]);
    if (connection.waiting.length > MAX_WAITING_REQUESTS) socket.destroy();
    next(socket, connection);
  });
}
