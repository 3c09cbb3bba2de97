import { status, type ServiceError, type StatusObject, Metadata } from '@grpc/grpc-js';
import { AuthFailure } from '../auth/bearer.js';
import { OcrError, type OcrErrorCode } from '../shared/errors.js';
import { NEW_CALL_PUSHBACK_MS } from '../shared/pushback.js';

const CODES: Record<OcrErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  INTERNAL: status.INTERNAL,
};

/**
 * Any thrown value → a gRPC status, an AuthFailure's (UNAUTHENTICATED, PERMISSION_DENIED) included;
 * unexpected ones become INTERNAL without leaking stack traces.
 * RESOURCE_EXHAUSTED carries grpc-retry-pushback-ms, as gRPC's retry design names it: the wait a
 * refusal for load suggests, or -1 for one that no retry can fix (too large), which grpc-js and
 * the SDK then do not retry. A refusal for load by admission also carries ocr-new-call-pushback-ms,
 * when a new call would fit (pushback.ts).
 */
export function toStatus(err: unknown): StatusObject {
  if (err instanceof AuthFailure) return { code: status[err.code], details: err.message, metadata: new Metadata() };
  const known = err instanceof OcrError;
  const code = known ? CODES[err.code] : status.INTERNAL;
  const details = known ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`;
  const metadata = new Metadata();
  if (code === status.RESOURCE_EXHAUSTED) metadata.set('grpc-retry-pushback-ms', String(known ? Math.round(err.retryAfterMs ?? -1) : -1));
  if (known && err.newCallAfterMs !== undefined) metadata.set(NEW_CALL_PUSHBACK_MS, String(Math.round(err.newCallAfterMs)));
  return { code, details, metadata };
}

/** toStatus as the error a handler's callback takes. */
export function toServiceError(err: unknown): ServiceError {
  const s = toStatus(err);
  return Object.assign(new Error(s.details), s);
}

export function statusName(code: status): string {
  return status[code] ?? String(code);
}
