/**
 * A bound on the bytes of a body whose reader keeps no count of its own. Fastify stops a body it
 * parses at the route's limit, and busboy each multipart file at its size; but the parts busboy
 * skips (no name) and the rest of a text field past its limit it reads and drops, without end: a
 * chunked multipart body of one such part was read at 46 MB/s for as long as its client sent it,
 * until the request's timeout (two minutes), the main thread parsing all of it.
 */
import type { IncomingMessage } from 'node:http';

/**
 * Fails the reader of `raw`'s body with `refusal()` once more than `limit` bytes of it have come,
 * as body-turn.ts fails a stalled one (the multipart reader listens for the request's errors).
 * Attach it in the same tick as the reader's pipe: a 'data' listener starts a stream that is not
 * paused. Returns the function that takes the count off once the body has been read.
 */
export function boundBodyBytes(raw: IncomingMessage, limit: number, refusal: () => Error): () => void {
  let received = 0;
  const count = (chunk: Buffer): void => {
    received += chunk.length;
    if (received <= limit) return;
    raw.off('data', count);
    const error = refusal();
    if (raw.listenerCount('error') > 0) raw.emit('error', error);
    else raw.destroy(error);
  };
  raw.on('data', count);
  return () => raw.off('data', count);
}
