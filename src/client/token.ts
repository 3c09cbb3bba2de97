/**
 * The bearer token a client sends with every call (`authorization: Bearer <token>`): a fixed
 * string, or a function that gives one (sync or async: a token refreshed before it expires).
 *
 * It travels as call metadata set by a client interceptor, on TLS and plaintext channels alike:
 * grpc-js refuses call credentials on an insecure channel ("Cannot compose insecure credentials"),
 * and a token over plaintext is what a server behind a TLS-terminating proxy or a service mesh
 * sees. The function runs once per call, before its first attempt; grpc-js's retries resend the
 * same metadata. A call that already carries a token (CallSettings.token, .authorization) keeps its own.
 */
import {
  InterceptingCall,
  Metadata,
  status,
  type Deadline,
  type Interceptor,
  type InterceptingListener,
  type StatusObject,
} from '@grpc/grpc-js';
import { MAX_TIMER_MS } from '../shared/answer-deadline.js';
import { onAbort } from './abort-listeners.js';
import { CLIENT_CLOSED } from './errors.js';
import { endUnsent } from './unsent-call.js';

export type TokenSource = string | (() => string | Promise<string>);

export const AUTHORIZATION_KEY = 'authorization';

/** RFC 6750's b64token: what a bearer token may be made of. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** What no one sees in a token that looks right: a "Bearer " left on, or the line break of the file it was read from. */
function tokenHint(token: string): string {
  if (/^bearer /i.test(token)) return ' (pass the token alone, without "Bearer ")';
  if (/\s/.test(token)) return ' (this one holds a space or a line break, as a token read from a file may: trim it)';
  return '';
}

/** Throws a RangeError for a token no server would take (empty, spaces, a "Bearer " prefix left on). */
export function checkToken(token: unknown): string {
  if (typeof token !== 'string' || !B64TOKEN.test(token)) {
    const hint = typeof token === 'string' ? tokenHint(token) : '';
    throw new RangeError(`a bearer token is a non-empty string of letters, digits and -._~+/ (= at the end)${hint}`);
  }
  return token;
}

/** `authorization` metadata value for a token. */
export function bearer(token: string): string {
  return `Bearer ${checkToken(token)}`;
}

/**
 * The description of a call whose deadline passed while its token function had not given a token:
 * grpc-js's call is not started until then, and its own deadline would end it without a word.
 */
export const TOKEN_LATE =
  'the deadline passed while the token function had not yet given a token, and the call was not sent: check what the function waits on (an identity provider), or allow a longer deadline';

/** grpc-js's wording for a call its caller cancelled. */
const CANCELLED_ON_CLIENT = 'Cancelled on client';

const ended = (code: status, details: string): StatusObject => ({ code, details, metadata: new Metadata() });

const tokenFailed = (err: unknown): StatusObject =>
  ended(status.UNAUTHENTICATED, `no token to send: the token function failed: ${err instanceof Error ? err.message : String(err)}`);

/** Milliseconds until `deadline`; Infinity for none, or one too far off for a timer. */
function msUntil(deadline: Deadline | undefined): number {
  const at = deadline instanceof Date ? deadline.getTime() : (deadline ?? Infinity);
  const ms = at - Date.now();
  return ms > MAX_TIMER_MS ? Infinity : Math.max(0, ms);
}

/**
 * Waits for a call's token, then sends the call with it (`send`), unless the call ends first: its
 * token function fails, its deadline passes or its client closes (`closed`), or `end` is called (its
 * caller cancelled). The call then ends with that status, unsent: grpc-js's call below, not started
 * yet, reports none of them itself, and the call would never end.
 */
function awaitToken(
  token: Promise<string>,
  deadline: Deadline | undefined,
  closed: AbortSignal,
  listener: Pick<InterceptingListener, 'onReceiveStatus'>,
  send: (token: string) => void,
): (status: StatusObject) => void {
  let waiting = true;
  const stops: (() => void)[] = [];
  const settle = (then: () => void): void => {
    if (!waiting) return;
    waiting = false;
    for (const stop of stops) stop();
    then();
  };
  const end = (result: StatusObject): void => settle(() => endUnsent(listener, result));
  const ms = msUntil(deadline);
  if (ms !== Infinity) {
    // As grpc-js's own deadline timers: a call's deadline keeps no process alive.
    const timer = setTimeout(() => end(ended(status.DEADLINE_EXCEEDED, TOKEN_LATE)), ms).unref();
    stops.push(() => clearTimeout(timer));
  }
  stops.push(onAbort(closed, () => end(ended(status.CANCELLED, CLIENT_CLOSED))));
  token.then(
    (value) =>
      settle(() => {
        // grpc-js's own deadline timer, started with the call, may have ended it just before ours.
        if (msUntil(deadline) === 0) return endUnsent(listener, ended(status.DEADLINE_EXCEEDED, TOKEN_LATE));
        try {
          send(value);
        } catch (err) {
          endUnsent(listener, tokenFailed(err));
        }
      }),
    (err: unknown) => end(tokenFailed(err)),
  );
  return end;
}

/** `closed`: aborted when the client closes, which ends the calls still waiting for their token. */
export function tokenInterceptor(source: TokenSource, closed: AbortSignal): Interceptor {
  if (typeof source === 'string') checkToken(source);
  const get = typeof source === 'string' ? (): string => source : source;
  return (options, nextCall) => {
    /** Ends the call, unsent, while it waits for its token; unset once it does not. */
    let endWaiting: ((result: StatusObject) => void) | undefined;
    return new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        if (metadata.get(AUTHORIZATION_KEY).length > 0) {
          next(metadata, listener);
          return;
        }
        const send = (token: string): void => {
          metadata.set(AUTHORIZATION_KEY, bearer(token));
          next(metadata, listener);
        };
        try {
          const token = get();
          // Anything but a promise goes to send, whose check says what a token must be: an untyped
          // function may give undefined (an unset variable) or a number.
          const pending = token as Partial<Promise<string>> | undefined;
          if (typeof pending?.then === 'function')
            endWaiting = awaitToken(token as Promise<string>, options.deadline, closed, listener, send);
          else send(token as string);
        } catch (err) {
          endUnsent(listener, tokenFailed(err));
        }
      },
      cancel: (next) => {
        endWaiting?.(ended(status.CANCELLED, CANCELLED_ON_CLIENT));
        next();
      },
    });
  };
}
