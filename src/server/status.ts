import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { OcrError, type OcrErrorCode } from '../shared/errors.js';

const CODES: Record<OcrErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  INTERNAL: status.INTERNAL,
};

/** Any thrown value → a gRPC error; unexpected ones become INTERNAL without leaking stack traces. */
export function toServiceError(err: unknown): ServiceError {
  const known = err instanceof OcrError;
  const code = known ? CODES[err.code] : status.INTERNAL;
  const details = known ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`;
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

export function statusName(code: status): string {
  return status[code] ?? String(code);
}
