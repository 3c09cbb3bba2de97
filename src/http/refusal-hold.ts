/**
 * How long the HTTP API holds a refusal to retry later (429) before it answers, and the Retry-After
 * it then sends. A script or load generator in a closed loop sends its next request the moment its
 * last one is refused. An HTTP/1.1 refusal costs the server about 0.24 ms of its main thread (its
 * connection, headers and answer: Fastify alone, measured), and HTTP has no narrower window to
 * offer, as gRPC has; answered within 50 ms, as gRPC's refusals are (src/server/refusal-pace.ts),
 * a hundred such callers made 1,300 refusals a second and the calls let in ran late: goodput 85 % of
 * four callers' (docs/BENCHMARKS.md, "HTTP under overload").
 * Retry-After counts whole seconds, so a client that honours it waited a second at least anyway:
 * a refusal is held that second (from the request's arrival), and Retry-After then says what is left
 * of the wait, 0 for none. Such a client loses nothing, and one that ignores it loops once a second.
 */

/** How long after its arrival a refusal is answered: Retry-After's unit. */
export const HTTP_REFUSAL_HOLD_MS = 1000;

export interface RefusalHold {
  holdMs: number;
  /** Retry-After, from the answer: whole seconds, 0 to retry at once. */
  retryAfterS: number;
}

/**
 * `waitMs`: when a new request would fit, from now; `elapsedMs`: since the request arrived, which the
 * hold counts as held already; `leftMs`: what its timeout leaves (undefined: none), half of which at
 * most is held; `enabled`: false with the server's refusal pace off (`--refusal-pace-ms 0`).
 */
export function httpRefusalHold(waitMs: number, elapsedMs: number, leftMs: number | undefined, enabled: boolean): RefusalHold {
  const limit = Math.min(HTTP_REFUSAL_HOLD_MS - elapsedMs, leftMs === undefined ? Infinity : leftMs / 2);
  const holdMs = enabled ? Math.max(0, Math.floor(limit)) : 0;
  return { holdMs, retryAfterS: Math.max(0, Math.ceil((waitMs - holdMs) / 1000)) };
}
