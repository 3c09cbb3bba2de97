/** The error every failed call of the client rejects with: a gRPC status, by name and by number. */

import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';

/** A gRPC status name: 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', ... */
export type StatusName = keyof typeof Status;

export class OcrCallError extends Error {
  /** The status name, as the proto's ErrorDetail.code spells it. */
  readonly code: StatusName;
  /** The numeric gRPC status. */
  readonly status: number;
  /** The server's (or grpc-js's) description, without the prefix `message` adds. */
  readonly details: string;
  /** Trailers the server sent with the status. */
  readonly metadata: Metadata;

  constructor(status: number, details: string, options: { method?: string; metadata?: Metadata; cause?: unknown } = {}) {
    const code = statusName(status);
    super(`${options.method ? `${options.method}: ` : ''}${code}: ${details}`, { cause: options.cause });
    this.name = 'OcrCallError';
    this.code = code;
    this.status = status;
    this.details = details;
    this.metadata = options.metadata ?? new Metadata();
  }
}

export function statusName(status: number): StatusName {
  // TypeScript enums map numbers back to their names; a number outside gRPC's set is UNKNOWN.
  const name = (Status as unknown as Record<number, string | undefined>)[status];
  return name !== undefined && name in Status ? (name as StatusName) : 'UNKNOWN';
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

/**
 * Wraps whatever a grpc-js call failed with. Anything that is not a gRPC status (a serialization
 * bug, a throw in a callback) becomes INTERNAL so callers handle a single error type.
 */
export function toOcrCallError(err: unknown, method?: string): OcrCallError {
  if (err instanceof OcrCallError) return err;
  if (isServiceError(err)) {
    return new OcrCallError(err.code, err.details, { method, metadata: err.metadata, cause: err });
  }
  const details = err instanceof Error ? err.message : String(err);
  return new OcrCallError(Status.INTERNAL, details, { method, cause: err });
}
