/**
 * The id a request goes by in the logs and, over HTTP, in its answer's x-request-id: the caller's
 * own (an x-request-id header or metadata), so that its logs and ours name the request alike, or
 * a new one.
 */
import { randomUUID } from 'node:crypto';

/** The header, and gRPC metadata key, that carries it both ways. */
export const REQUEST_ID_KEY = 'x-request-id';

/**
 * Up to 128 printable ASCII characters, what gRPC metadata carries: a gateway passing on a header
 * with any other character (`é` in an HTTP header) had it turned to '?', and the instance's lines
 * then named the request otherwise than the gateway's answer and lines did.
 */
const CARRIABLE = /^[\x20-\x7e]{1,128}$/;

export function requestIdOf(given: unknown): string {
  return typeof given === 'string' && CARRIABLE.test(given) ? given : randomUUID();
}
