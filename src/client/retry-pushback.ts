import { status as Status, type Metadata } from '@grpc/grpc-js';
import { NEW_CALL_PUSHBACK_MS, newCallPushbackMs, retryPushbackMs } from '../shared/pushback.js';

/**
 * The server's hint for a call refused for overload (RESOURCE_EXHAUSTED with grpc-retry-pushback-ms),
 * in ms; null for any other end, and for a refusal that no retry can fix (a pushback of -1).
 */
export function overloadPushbackMs(code: Status, metadata: Metadata): number | null {
  return code === Status.RESOURCE_EXHAUSTED ? retryPushbackMs(metadata) : null;
}

/**
 * When the instance that refused a call for overload expects room for a new call: its
 * ocr-new-call-pushback-ms, else the retry's hint; null as overloadPushbackMs.
 */
export function overloadNewCallPushbackMs(code: Status, metadata: Metadata): number | null {
  return code === Status.RESOURCE_EXHAUSTED ? newCallPushbackMs(metadata) : null;
}

/**
 * How long the instance that refused a call expects to have no room for any new call of its
 * priority: the ocr-new-call-pushback-ms that only a server's refusals for load carry, and not, for
 * one, a refusal for a caller's quota, which a gateway's other callers do not share; null otherwise.
 */
export function instanceFullMs(code: Status, metadata: Metadata): number | null {
  return code === Status.RESOURCE_EXHAUSTED && metadata.get(NEW_CALL_PUSHBACK_MS).length > 0 ? newCallPushbackMs(metadata) : null;
}
