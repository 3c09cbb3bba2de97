/**
 * A stream outlives the token check at its start: its API key may be revoked, its JWT may expire
 * or its scope be withdrawn while it stays open, for as long as its client keeps sending. The
 * access interceptor, which takes the token out of the metadata handlers see, leaves with that
 * metadata a check of the token as it stands; the stream call runs it before each later message,
 * and a failed check ends the call with its refusal.
 */
import type { Metadata } from '@grpc/grpc-js';
import { AuthFailure } from '../auth/bearer.js';

export type TokenCheck = () => Promise<void>;

const checks = new WeakMap<Metadata, TokenCheck>();

export function keepTokenCheck(metadata: Metadata, check: TokenCheck): void {
  checks.set(metadata, check);
}

/** The check kept with a call's metadata; none where its method needs no token. */
export function tokenCheckOf(metadata: Metadata): TokenCheck | undefined {
  return checks.get(metadata);
}

/** A refusal of the token mid-stream, saying that the stream opened with it and what to do. */
export function revokedMidStream(failure: AuthFailure): AuthFailure {
  return new AuthFailure(
    failure.code,
    `this stream's token no longer holds: ${failure.message}; the images answered so far stand, open a new stream with a valid token for the rest`,
    failure.bearerError,
    failure.scope,
  );
}

/** `messages`, each let through once `check` has passed: a failed check throws its refusal to the reader. */
export async function* checkedEach<T>(messages: AsyncIterable<T>, check: TokenCheck): AsyncGenerator<T, void, undefined> {
  for await (const message of messages) {
    await check();
    yield message;
  }
}
