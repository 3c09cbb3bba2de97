/** Per-call settings of the client, and how they become grpc-js call options. */

import type { CallOptions } from '@grpc/grpc-js';

export interface CallSettings {
  /** Overrides the client's default deadline for this call; Infinity waits without limit. */
  deadlineMs?: number;
  /** Aborting cancels the call; it then rejects with CANCELLED. */
  signal?: AbortSignal;
}

export const DEFAULT_DEADLINE_MS = 30_000;

/** Throws a RangeError for a deadline that would make every call fail at once or never be set. */
export function checkDeadlineMs(deadlineMs: number): number {
  if (!(deadlineMs > 0) || (!Number.isFinite(deadlineMs) && deadlineMs !== Infinity)) {
    throw new RangeError(`deadlineMs must be a number of milliseconds > 0 (or Infinity), got ${deadlineMs}`);
  }
  return deadlineMs;
}

/** grpc-js takes an absolute deadline, fixed when the call starts. */
export function callOptions(defaultDeadlineMs: number, settings: CallSettings = {}): Partial<CallOptions> {
  const deadlineMs = checkDeadlineMs(settings.deadlineMs ?? defaultDeadlineMs);
  return deadlineMs === Infinity ? {} : { deadline: new Date(Date.now() + deadlineMs) };
}
