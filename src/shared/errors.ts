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
    /**
     * For a refusal for load: when a new call with as long a deadline would fit. Sooner than
     * `retryAfterMs` where the deadline bounds the call's room, since a retry keeps the deadline it
     * has left. What HTTP's Retry-After and a balancer choosing where to send new calls want.
     * Unset: `retryAfterMs`.
     */
    readonly newCallAfterMs?: number,
  ) {
    super(message);
    this.name = 'OcrError';
  }
}

/**
 * A refusal for load, without a stack: under overload a server gives them by the thousand a second,
 * and capturing a stack nobody reads was a tenth of what each cost its main thread.
 */
export function loadRefusal(message: string, retryAfterMs: number, newCallAfterMs?: number): OcrError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new OcrError('RESOURCE_EXHAUSTED', message, retryAfterMs, newCallAfterMs);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Whether `err` is a refusal for load (loadRefusal): RESOURCE_EXHAUSTED with a time to retry in. */
export function isLoadRefusal(err: unknown): boolean {
  return err instanceof OcrError && err.code === 'RESOURCE_EXHAUSTED' && err.retryAfterMs !== undefined;
}

export function invalidArgument(message: string): OcrError {
  return new OcrError('INVALID_ARGUMENT', message);
}

export function resourceExhausted(message: string): OcrError {
  return new OcrError('RESOURCE_EXHAUSTED', message);
}
