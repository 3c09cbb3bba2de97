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
import { InterceptingCall, Metadata, status, type Interceptor } from '@grpc/grpc-js';

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

export function tokenInterceptor(source: TokenSource): Interceptor {
  if (typeof source === 'string') checkToken(source);
  const get = typeof source === 'string' ? (): string => source : source;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        if (metadata.get(AUTHORIZATION_KEY).length > 0) {
          next(metadata, listener);
          return;
        }
        const send = (token: string): void => {
          metadata.set(AUTHORIZATION_KEY, bearer(token));
          next(metadata, listener);
        };
        const fail = (err: unknown): void =>
          listener.onReceiveStatus({
            code: status.UNAUTHENTICATED,
            details: `no token to send: the token function failed: ${err instanceof Error ? err.message : String(err)}`,
            metadata: new Metadata(),
          });
        try {
          const token = get();
          // Anything but a promise goes to send, whose check says what a token must be: an untyped
          // function may give undefined (an unset variable) or a number.
          const pending = token as Partial<Promise<string>> | undefined;
          if (typeof pending?.then === 'function') (token as Promise<string>).then(send).catch(fail);
          else send(token as string);
        } catch (err) {
          fail(err);
        }
      },
    });
}
