import { status as Status, type Metadata } from '@grpc/grpc-js';
import { NEW_CALL_PUSHBACK_MS } from '../shared/pushback.js';

/**
 * The server's hint for a call refused for overload (RESOURCE_EXHAUSTED with grpc-retry-pushback-ms),
 * in ms; null for any other end, and for a refusal that no retry can fix (a pushback of -1).
 */
export function overloadPushbackMs(code: Status, metadata: Metadata): number | null {
  if (code !== Status.RESOURCE_EXHAUSTED) return null;
  const ms = Number(metadata.get('grpc-retry-pushback-ms')[0]);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

/**
 * When the instance that refused a call for overload expects room for a new call: its
 * ocr-new-call-pushback-ms, else the retry's hint; null as overloadPushbackMs.
 */
export function newCallPushbackMs(code: Status, metadata: Metadata): number | null {
  const retry = overloadPushbackMs(code, metadata);
  if (retry === null) return null;
  const ms = Number(metadata.get(NEW_CALL_PUSHBACK_MS)[0]);
  return Number.isFinite(ms) && ms >= 0 ? ms : retry;
}
