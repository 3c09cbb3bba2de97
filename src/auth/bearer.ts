/**
 * The bearer token of a call, from its `authorization` value (gRPC metadata or HTTP header), and
 * the refusals every transport answers alike. A message says what is missing or wrong and what to
 * send; it never repeats the token, nor any part of the value it came in.
 */

/** gRPC's status names for a refusal of who calls: 401 and 403 over HTTP. */
export type AuthFailureCode = 'UNAUTHENTICATED' | 'PERMISSION_DENIED';

export class AuthFailure extends Error {
  constructor(
    readonly code: AuthFailureCode,
    message: string,
    /**
     * RFC 6750's error for WWW-Authenticate: none when no token came, invalid_request for a value
     * that is no bearer token, invalid_token, insufficient_scope (with `scope`).
     */
    readonly bearerError?: 'invalid_request' | 'invalid_token' | 'insufficient_scope',
    readonly scope?: string,
  ) {
    super(message);
    this.name = 'AuthFailure';
  }
}

/** The realm named in WWW-Authenticate. */
export const REALM = 'ocr';

/** RFC 6750's WWW-Authenticate for a refusal: the scheme, the realm, and why (never the token). */
export function bearerChallenge(failure: AuthFailure): string {
  const parts = [`realm="${REALM}"`];
  if (failure.bearerError) parts.push(`error="${failure.bearerError}"`);
  // error_description is a quoted-string of printable ASCII: the message, its quotes and backslashes dropped.
  if (failure.bearerError) parts.push(`error_description="${failure.message.replace(/[^\x20-\x7e]|["\\]/g, '')}"`);
  if (failure.scope) parts.push(`scope="${failure.scope}"`);
  return `Bearer ${parts.join(', ')}`;
}

/** Longer values are refused unread: no real API key or JWT comes near it. */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750's b64token: what a bearer token may be made of. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

const SEND = 'send the header "authorization: Bearer <token>" with an API key or a JWT';

/**
 * How many values `value` stands for: HTTP joins repeated fields with commas (RFC 9110, 5.3), as
 * HTTP/2 must for `authorization` (Node sends it once), so a gateway forwards several that way. No
 * bearer token has a comma; empty elements do not count.
 */
const joinedValues = (value: unknown): number =>
  typeof value === 'string' ? Math.max(1, value.split(',').filter((v) => v.trim()).length) : 1;

/**
 * Every `authorization` field of a request's raw headers (name, value, name, value…), whose parsed
 * headers keep only the first: Node's HTTP/1.1 and HTTP/2 alike.
 */
export function authorizationValues(rawHeaders: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'authorization') values.push(rawHeaders[i + 1]!);
  return values;
}

/**
 * The token of the `authorization` values a call carried (gRPC metadata and HTTP both allow
 * several, separately or joined with commas): exactly one value, the Bearer scheme, one token of
 * b64token characters. Throws AuthFailure(UNAUTHENTICATED) saying what is wrong.
 */
export function bearerToken(values: readonly unknown[]): string {
  if (values.length === 0) throw new AuthFailure('UNAUTHENTICATED', `no token: ${SEND}`);
  const count = values.reduce<number>((sum, value) => sum + joinedValues(value), 0);
  if (count > 1) {
    throw new AuthFailure('UNAUTHENTICATED', `${count} authorization values: send exactly one bearer token`, 'invalid_request');
  }
  const value = values[0];
  if (typeof value !== 'string') {
    throw new AuthFailure('UNAUTHENTICATED', `malformed authorization value (binary): ${SEND}`, 'invalid_request');
  }
  if (value.length > MAX_TOKEN_LENGTH + 7) {
    throw new AuthFailure('UNAUTHENTICATED', `malformed token: longer than ${MAX_TOKEN_LENGTH} characters`, 'invalid_request');
  }
  const space = value.indexOf(' ');
  const scheme = space < 0 ? value : value.slice(0, space);
  // "Bearer" + token, or a tab for the space (which gRPC metadata carries as '?'): the scheme is there, the space is not.
  if (/^bearer[^ ]/i.test(scheme)) {
    throw new AuthFailure(
      'UNAUTHENTICATED',
      'malformed authorization value: no space after "Bearer"; send the scheme and the token separated by one space, "Bearer <token>"',
      'invalid_request',
    );
  }
  if (scheme.toLowerCase() !== 'bearer') {
    // Only the scheme is named, and only when it is a plain word: "Basic", never a token pasted alone.
    const named = /^[A-Za-z][A-Za-z0-9-]{0,15}$/.test(scheme) && space >= 0 ? ` (the scheme is ${scheme})` : '';
    throw new AuthFailure('UNAUTHENTICATED', `malformed authorization value: not a bearer token${named}; ${SEND}`, 'invalid_request');
  }
  const token = space < 0 ? '' : value.slice(space + 1).replace(/^ +/, '');
  if (token.length === 0)
    throw new AuthFailure('UNAUTHENTICATED', `malformed authorization value: "Bearer" without a token; ${SEND}`, 'invalid_request');
  const trimmed = token.trimEnd();
  if (/\s/.test(trimmed)) {
    throw new AuthFailure('UNAUTHENTICATED', 'malformed token: more than one word after "Bearer"; send one token', 'invalid_request');
  }
  if (!B64TOKEN.test(trimmed)) {
    throw new AuthFailure(
      'UNAUTHENTICATED',
      'malformed token: it has characters no bearer token has (letters, digits and -._~+/ only, = at the end)',
      'invalid_request',
    );
  }
  return trimmed;
}

/**
 * Whether a token is shaped as a JWE in compact form (five base64url parts, the second empty for
 * "dir"): claims encrypted for the identity provider, which no key of a JWKS reads.
 */
export function looksLikeJwe(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/** Whether a token is shaped as a JWS in compact form (three base64url parts): else an API key. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
