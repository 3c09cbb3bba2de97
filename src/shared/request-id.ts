/**
 * The id a request goes by in the logs and, over HTTP, in its answer's x-request-id: the caller's
 * own (an x-request-id header or metadata), so that its logs and ours name the request alike, or
 * a new one.
 */
import { randomUUID } from 'node:crypto';

/** The header, and gRPC metadata key, that carries it both ways. */
export const REQUEST_ID_KEY = 'x-request-id';

export function requestIdOf(given: unknown): string {
  return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
}
