/**
 * Errors that carry a status name a caller can act on. The names match gRPC's status codes so the
 * server maps them one to one, but nothing here depends on gRPC.
 */
export type OcrErrorCode = 'INVALID_ARGUMENT' | 'RESOURCE_EXHAUSTED' | 'UNAVAILABLE' | 'DEADLINE_EXCEEDED' | 'CANCELLED' | 'INTERNAL';

export class OcrError extends Error {
  constructor(
    readonly code: OcrErrorCode,
    message: string,
    /**
     * For a call refused for load: when the server expects room (gRPC's grpc-retry-pushback-ms).
     * Unset for a refusal that no retry can fix.
     */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'OcrError';
  }
}

export function invalidArgument(message: string): OcrError {
  return new OcrError('INVALID_ARGUMENT', message);
}

export function resourceExhausted(message: string): OcrError {
  return new OcrError('RESOURCE_EXHAUSTED', message);
}
