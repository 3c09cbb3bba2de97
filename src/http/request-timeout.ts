/**
 * How long an HTTP request may take to arrive whole. Fastify leaves Node's `requestTimeout` at 0,
 * no limit, as for a server behind a proxy; instances and the gateway face their clients
 * themselves, and a client that sends part of a body and stalls would otherwise hold its connection
 * and what it sent for as long as it likes. Node's documentation suggests 120 s for a server with no
 * proxy in front: a 32 MiB image then needs 0.27 MB/s on average. gRPC calls have an idle limit
 * instead (src/server/upload-idle.ts); Node's HTTP server offers none for a body.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HttpFailure } from './failure.js';
import { failureJson } from './response-json.js';

export const REQUEST_TIMEOUT_MS = 120_000;

/** How often Node checks each connection's time: a quarter of the timeout, at most its own default of 30 s. */
export const connectionsCheckingIntervalMs = (timeoutMs: number): number => Math.min(30_000, Math.max(25, Math.round(timeoutMs / 4)));

/** What Node's HTTP server reports of a request it could not take (its `clientError` event). */
function clientFailure(err: NodeJS.ErrnoException, timeoutMs: number): HttpFailure {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: 'DEADLINE_EXCEEDED',
      message: `the request did not arrive whole within ${timeoutMs / 1000} s, the server's limit; send it without pausing`,
    };
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, code: 'INVALID_ARGUMENT', message: 'request headers too large: send fewer or shorter headers' };
  }
  return {
    status: 400,
    code: 'INVALID_ARGUMENT',
    message: `malformed HTTP request (${err.code ?? err.message}): send a valid HTTP/1.1 request`,
  };
}

/**
 * Fastify's `clientErrorHandler`: the request that came too slowly (408) or malformed (400, 431)
 * answered in the API's JSON, as Node would answer it: only where no response has begun on the
 * socket, then the connection closed.
 */
export function clientErrorAnswer(timeoutMs: number, logger: Logger): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const failure = clientFailure(err, timeoutMs);
    logger.info({ status: failure.status, code: failure.code, message: failure.message }, 'refused');
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(failureJson(failure));
      socket.write(
        `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
