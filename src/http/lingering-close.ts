/**
 * A lingering close (as Nginx's `lingering_close`): the connection of a request answered before its
 * body was read is closed only once the client has sent the rest, or has gone quiet, or after a
 * while. Node ends such an answer with `destroySoon()`, which closes the socket with the body's
 * rest unread, and the kernel answers that rest with a reset: a client that writes its whole body
 * before it reads (fetch, curl without `Expect: 100-continue`) fails with EPIPE or ECONNRESET and
 * never reads its 413, 429 or 401. What the client still sends is read and dropped, never held.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

export interface LingerBounds {
  /** At most this long from the answer (Nginx's lingering_time, 30 s). */
  totalMs: number;
  /** Closed once the client has sent nothing for this long (Nginx's lingering_timeout, 5 s). */
  idleMs: number;
}

export const LINGER_BOUNDS: LingerBounds = { totalMs: 30_000, idleMs: 5_000 };

/**
 * Reads and drops what the client still sends on `socket`, whose server side has ended, until it
 * has gone quiet, a bound passes or `stop` fires, then closes it with `destroy`; the function
 * returned closes it at once (the body, or the client's side, ended).
 */
function dropUntilQuiet(socket: Socket, stop: AbortSignal, bounds: LingerBounds, destroy: () => void): () => void {
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(total);
    clearInterval(quiet);
    stop.removeEventListener('abort', close);
    destroy();
  };
  const total = setTimeout(close, bounds.totalMs);
  // Counted on the socket: Node drops a refused body in its parser without a 'data' event.
  let bytesRead = socket.bytesRead;
  let heardAt = Date.now();
  const quiet = setInterval(
    () => {
      if (socket.bytesRead !== bytesRead) {
        bytesRead = socket.bytesRead;
        heardAt = Date.now();
      } else if (Date.now() - heardAt >= bounds.idleMs) close();
    },
    Math.max(10, bounds.idleMs / 10),
  );
  socket.once('close', close);
  stop.addEventListener('abort', close);
  return close;
}

/**
 * Makes the close that follows the answer to `request` (sent with `connection: close`) a lingering
 * one: the answer is sent and the server's side of the connection ended, then the rest of the
 * body is read and dropped until it ends, a bound passes or `stop` fires (the server closing: its
 * answer sent, the connection holds back nothing but the shutdown), and the connection closes.
 */
export function lingerAfterAnswer(request: IncomingMessage, stop: AbortSignal, bounds: LingerBounds = LINGER_BOUNDS): void {
  const socket = request.socket;
  const destroySoon = socket.destroySoon.bind(socket);
  socket.destroySoon = () => {
    if (request.complete || stop.aborted) return destroySoon();
    socket.end();
    const close = dropUntilQuiet(socket, stop, bounds, destroySoon);
    // The body's readers (Fastify's parser, multipart) gave up on it: nothing but this reads it now.
    request.unpipe();
    request.removeAllListeners('data');
    request.once('end', close);
    request.resume();
  };
}

/** The connections closing after a request Node could not parse (lingerAfterMalformed). */
const malformed = new WeakSet<Socket>();

/**
 * The same close for the connection of a request Node could not parse (its `clientError`: a
 * Content-Length given twice or malformed), its answer written: Node's parser drops what the client
 * still sends, each chunk reported as the same error again (isLingering), until the client's side ends.
 */
export function lingerAfterMalformed(socket: Socket, stop: AbortSignal, bounds: LingerBounds = LINGER_BOUNDS): void {
  if (stop.aborted) return void socket.destroy();
  malformed.add(socket);
  socket.end();
  const close = dropUntilQuiet(socket, stop, bounds, () => socket.destroy());
  socket.once('end', close);
}

/** Whether `socket` closes after a request Node could not parse: a later error on it is that request's rest, already answered. */
export const isLingering = (socket: Socket): boolean => malformed.has(socket);
