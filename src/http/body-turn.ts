/**
 * An HTTP request's body under the server's upload gate (src/server/upload-gate.ts), as a gRPC
 * request's message is: it is read only from its turn, what it holds is counted chunk by chunk, it is
 * paused while the gate squeezes, and one that stalls meanwhile is answered. Without it a hundred
 * connections each sending 29 MB of a 30 MB body and stalling held 2.9 GB (docs/BENCHMARKS.md, "What
 * many connections' uploads hold together"). HTTP/1.1 carries one body at a time a connection, so
 * each connection here has at most one upload; the server-wide bound in bytes is the gate's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UploadGate } from '../server/upload-gate.js';

/**
 * A body's turn: whether it had to wait for it, and its place, given up when the request is refused
 * at its turn or once its images are read from the body (readImages): a body that has arrived still
 * counts at the gate until then. A JSON body waits for one of a few threads to parse it
 * (json-images-thread.ts); uncounted meanwhile, the bodies waiting were bounded by nothing but the
 * connections, each of which may upload one.
 */
export interface BodyTurn {
  waited: boolean;
  release(): void;
}

/**
 * Resolves once `request`'s body may be read. Until then nothing reads it, so Node stops reading
 * its socket and TCP keeps the rest on the client. One the gate stalls is failed with its error.
 */
export function bodyTurn(gate: UploadGate, request: FastifyRequest, reply: FastifyReply): Promise<BodyTurn> {
  const raw = request.raw;
  return new Promise((resolve) => {
    let received = 0;
    let waited = false;
    const ticket = gate.enter(
      `http:${raw.socket.remoteAddress}:${raw.socket.remotePort}`,
      () => resolve({ waited, release: () => ticket.release() }),
      {
        stream: raw,
        onStall: () => {
          ticket.release();
          // The rest of the body is not wanted: the connection closes after the answer.
          void reply.header('connection', 'close');
          // To the body's reader (Fastify's parser, or multipart's), which fails the request with it.
          const error = gate.stallError();
          if (raw.listenerCount('error') > 0) raw.emit('error', error);
          else raw.destroy(error);
        },
      },
    );
    // A turn given from here on was waited for: enter gives one at once, before it returns.
    waited = true;
    // Counting alongside the body's reader; paused again at once, so that nothing flows before the reader is there.
    raw.on('data', (chunk: Buffer) => ticket.held((received += chunk.length)));
    raw.pause();
    raw.once('end', () => ticket.arrived());
    reply.raw.once('close', () => ticket.release());
  });
}
