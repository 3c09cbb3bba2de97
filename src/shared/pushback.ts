/**
 * The hints a refusal's trailers carry. grpc-retry-pushback-ms (gRPC's retry design) is for a retry
 * of the refused call, which keeps the deadline it has left. ocr-new-call-pushback-ms says when a
 * new call would fit: it comes with a whole deadline of its own, and fits sooner when the deadline
 * is what bounds the call's room. Read here for the SDK's retries and balancer and for HTTP's
 * Retry-After alike.
 */
export const NEW_CALL_PUSHBACK_MS = 'ocr-new-call-pushback-ms';

/** What these need of a call's trailers: grpc-js's Metadata has it. */
export interface Trailers {
  get(key: string): unknown[];
}

function millis(trailers: Trailers, key: string): number | null {
  const value = trailers.get(key)[0];
  const ms = typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

/** grpc-retry-pushback-ms; null without one, or for -1: no retry can fix the refusal. */
export function retryPushbackMs(trailers: Trailers): number | null {
  return millis(trailers, 'grpc-retry-pushback-ms');
}

/** When a new call would fit: ocr-new-call-pushback-ms, else the retry's hint; null as retryPushbackMs. */
export function newCallPushbackMs(trailers: Trailers): number | null {
  const retry = retryPushbackMs(trailers);
  return retry === null ? null : (millis(trailers, NEW_CALL_PUSHBACK_MS) ?? retry);
}
