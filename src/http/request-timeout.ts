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
import { isLingering, lingerAfterMalformed } from './lingering-close.js';
import type { RequestFields } from './request-arrivals.js';
import { failureJson } from './response-json.js';
import { RAW_SECURITY_HEADER_LINES } from './security-headers.js';
import { clientPeer } from '../shared/client-address.js';

export const REQUEST_TIMEOUT_MS = 120_000;

/** How often Node checks each connection's time: a quarter of the timeout, at most its own default of 30 s. */
export const connectionsCheckingIntervalMs = (timeoutMs: number): number => Math.min(30_000, Math.max(25, Math.round(timeoutMs / 4)));

/** Node's server options for a request's time to arrive: the whole request's, and its headers'. */
export interface ServerTimeouts {
  requestTimeout: number;
  /** Node's own default (60 s, at most requestTimeout), set here so that a 408 can name it. */
  headersTimeout: number;
  connectionsCheckingInterval: number;
}

export const serverTimeouts = (requestTimeoutMs: number): ServerTimeouts => ({
  requestTimeout: requestTimeoutMs,
  headersTimeout: Math.min(60_000, requestTimeoutMs),
  connectionsCheckingInterval: connectionsCheckingIntervalMs(requestTimeoutMs),
});

/** The part of a response Node made for a request that is read here: whether its answer has begun, and its request. */
interface InFlightResponse {
  headersSent?: boolean;
  req?: { complete: boolean };
}

/**
 * What Node's HTTP server reports of a request it could not take (its `clientError` event). Node
 * reports both its limits as one error: the headers' one applied while no request had been parsed.
 */
function clientFailure(err: NodeJS.ErrnoException, headersParsed: boolean, timeouts: ServerTimeouts): HttpFailure {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: 'DEADLINE_EXCEEDED',
      message: headersParsed
        ? `the request did not arrive whole within ${timeouts.requestTimeout / 1000} s, the server's limit; send it without pausing`
        : `the request's headers did not arrive whole within ${timeouts.headersTimeout / 1000} s, the server's limit for headers; send them without pausing`,
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
 * socket, then the connection closed (after a malformed one, a lingering close: lingering-close.ts).
 * One already parsed is named in its answer and line as the app names it (`fieldsOf`). `stop` ends
 * the lingering closes (the server closing); `count` is told of each answer written, with the
 * response of the request it answers where one was parsed (the metrics).
 */
export function clientErrorAnswer(
  timeouts: ServerTimeouts,
  logger: Logger,
  stop: AbortSignal,
  count: (status: number, response?: object) => void = () => undefined,
  fieldsOf: (response: object) => RequestFields | undefined = () => undefined,
): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed || isLingering(socket)) return;
    // The server's side already ended (a lingering close, lingering-close.ts): the request had its
    // answer, and a client that stops sending its body then is no malformed request.
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // The response Node made for the request it parsed, until that response is finished.
    const inFlight = (socket as Socket & { _httpMessage?: InFlightResponse | null })._httpMessage;
    // The client closed its side halfway through a request's body, as a dropped or cancelled upload
    // does: it left. Its body's reader fails as the connection closes, and the app says so (499);
    // answered here, it was logged and counted as a malformed request of no id, and again as a 400.
    if (err.code === 'HPE_INVALID_EOF_STATE' && inFlight?.req?.complete === false) {
      socket.destroy();
      return;
    }
    const failure = clientFailure(err, Boolean(inFlight), timeouts);
    const request = inFlight ? fieldsOf(inFlight) : undefined;
    const peer = clientPeer(socket.remoteAddress, socket.remotePort);
    logger.info({ ...request, status: failure.status, code: failure.code, message: failure.message, peer }, 'refused');
    if (socket.writable && !inFlight?.headersSent) {
      count(failure.status, inFlight ?? undefined);
      const body = JSON.stringify(failureJson(failure));
      // A request id is printable ASCII alone (request-id.ts): it cannot end the header.
      const id = request ? `x-request-id: ${request.requestId}\r\n` : '';
      socket.write(
        `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n${id}${RAW_SECURITY_HEADER_LINES}Connection: close\r\n\r\n${body}`,
      );
      // A malformed request's client may still be sending its body, which a close at once would meet with a reset.
      if (failure.status !== 408) return lingerAfterMalformed(socket, stop);
    }
    socket.destroy();
  };
}
