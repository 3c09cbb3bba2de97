/** Per-call settings of the client, and how they become grpc-js call options and metadata. */

import { Metadata, type CallOptions } from '@grpc/grpc-js';
import { MAX_TIMER_MS } from '../shared/answer-deadline.js';
import { kindOf } from './image-bytes.js';
import { AUTHORIZATION_KEY, bearer } from './token.js';

/**
 * How the server ranks a call under load: `batch` calls are refused first and never delay queued
 * `interactive` ones.
 */
export type Priority = 'interactive' | 'batch';

export const PRIORITIES: readonly Priority[] = ['interactive', 'batch'];

/** The metadata key the server reads a call's priority from. */
export const PRIORITY_METADATA_KEY = 'ocr-priority';

export interface CallSettings {
  /** Overrides the client's default deadline for this call; Infinity (or more than MAX_DEADLINE_MS) waits without limit. */
  deadlineMs?: number;
  /** Aborting cancels the call; it then rejects with CANCELLED. */
  signal?: AbortSignal;
  /** Sent as `ocr-priority` metadata; unset, the server takes the call as interactive. */
  priority?: Priority;
  /** Bearer token of this call alone, in place of the client's (OcrClientOptions.token). */
  token?: string;
  /**
   * The `authorization` value of this call alone, sent as given (printable ASCII), in place of
   * `token` and the client's: a gateway passing its caller's header on for the servers to check.
   */
  authorization?: string;
  /** Sent as `x-request-id` (printable ASCII): the id the servers' logs name the call by; a gateway passes its caller's on. */
  requestId?: string;
}

/**
 * The CallSettings of a wider options object, every one of them: helpers that make calls for their
 * caller (tile streams, re-reads) pass these on, so that none is dropped on the way (a token).
 */
export function callSettingsOf(options: CallSettings): CallSettings {
  const { deadlineMs, signal, priority, token, authorization, requestId } = options;
  return { deadlineMs, signal, priority, token, authorization, requestId };
}

/**
 * Throws what callOptions and callMetadata would throw for `settings`: for helpers that do long
 * work (decoding a large image) before their first call, so that a bad setting is not found after it.
 */
export function checkCallSettings(settings: CallSettings): void {
  callOptions(Infinity, settings);
  callMetadata(settings);
}

/**
 * Throws a TypeError for a signal that is no AbortSignal, as an untyped caller's AbortController:
 * found only once the call is made, a stream's would be left open with nothing listening for its end.
 */
function checkSignal(signal: unknown): void {
  const events = signal as Partial<AbortSignal> | null;
  if (signal === undefined || (typeof events?.addEventListener === 'function' && typeof events.aborted === 'boolean')) return;
  throw new TypeError(`signal must be an AbortSignal (an AbortController's .signal), got ${kindOf(signal)}`);
}

/** The request id's metadata key, as HTTP's header: the servers read either. */
export const REQUEST_ID_METADATA_KEY = 'x-request-id';

/** `value` as metadata of `key`; refused before grpc-js, whose own refusal would repeat the value (a credential, for one). */
function setPrintable(metadata: Metadata, key: string, value: string): void {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new RangeError(`${key} must be printable ASCII, as gRPC metadata is`);
  metadata.set(key, value);
}

export const DEFAULT_DEADLINE_MS = 30_000;

/** Throws a RangeError for a deadline that would make every call fail at once or never be set. */
export function checkDeadlineMs(deadlineMs: number): number {
  if (typeof deadlineMs !== 'number' || !(deadlineMs > 0) || (!Number.isFinite(deadlineMs) && deadlineMs !== Infinity)) {
    // An untyped caller's "100" would read as 100, the very value that looks fine.
    const got = typeof deadlineMs === 'number' ? String(deadlineMs) : `${typeof deadlineMs} ${JSON.stringify(deadlineMs)}`;
    throw new RangeError(`deadlineMs must be a number of milliseconds > 0 (or Infinity), got ${got}`);
  }
  return deadlineMs;
}

/**
 * The longest deadline sent as one. A gRPC server in Node (grpc-js) reads the `grpc-timeout` header
 * into a 32-bit timer (2^31 - 1 ms, about 24.8 days), and grpc-js sends a timeout over 1e8 ms in
 * whole seconds, rounded up: a longer one wraps around and the call fails at once. A deadline that
 * far off is as good as none, and is sent as none.
 */
export const MAX_DEADLINE_MS = Math.floor(MAX_TIMER_MS / 1000) * 1000;

/** grpc-js takes an absolute deadline, fixed when the call starts; a bad deadline or signal throws. */
export function callOptions(defaultDeadlineMs: number, settings: CallSettings = {}): Partial<CallOptions> {
  checkSignal(settings.signal);
  const deadlineMs = checkDeadlineMs(settings.deadlineMs ?? defaultDeadlineMs);
  return deadlineMs > MAX_DEADLINE_MS ? {} : { deadline: new Date(Date.now() + deadlineMs) };
}

/** The call's request metadata; grpc-js sends it again with every retry attempt. */
export function callMetadata(settings: CallSettings = {}): Metadata {
  const metadata = new Metadata();
  const { priority } = settings;
  if (priority !== undefined) {
    // A typo from untyped callers would otherwise reach the server as an unknown priority.
    if (!PRIORITIES.includes(priority)) throw new RangeError(`priority must be one of ${PRIORITIES.join(', ')}, got ${String(priority)}`);
    metadata.set(PRIORITY_METADATA_KEY, priority);
  }
  if (settings.authorization !== undefined) setPrintable(metadata, AUTHORIZATION_KEY, settings.authorization);
  else if (settings.token !== undefined) metadata.set(AUTHORIZATION_KEY, bearer(settings.token));
  if (settings.requestId !== undefined) setPrintable(metadata, REQUEST_ID_METADATA_KEY, settings.requestId);
  return metadata;
}
