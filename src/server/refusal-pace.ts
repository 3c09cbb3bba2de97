/**
 * How long a refusal for load is held before it is answered. A caller in a closed loop (ghz, a
 * script, a queue consumer) sends its next call the moment its last one is refused: answered at
 * once, a few dozen such callers make a busy loop that takes the machine's cores from the calls
 * being served, each refusal costing its upload, its status and the client's next request
 * (docs/BENCHMARKS.md, "Tried and kept"). Held a few tens of milliseconds, by a timer that costs
 * nothing, each caller loops at most that often. Refusals for load and over a quota are held, never
 * longer than the wait they suggest (grpc-retry-pushback-ms), and refusals of who calls (a bad or
 * missing token, a missing scope: a client looping on a bad token, or trying tokens), never past
 * half the time the call has left.
 */

/** The default hold: well inside the 100 ms that a refusal may take, and a few times a refusal's own time. */
export const DEFAULT_REFUSAL_PACE_MS = 50;

/**
 * Milliseconds to hold a refusal: 0 for one that is not for load (no `retryAfterMs`) or with pacing
 * off, else what is left of `paceMs` after `waitedMs` (the time since the call arrived: waiting for
 * its upload turn, or for the event loop), bounded by the suggested wait and half of `leftMs` (the
 * call's time left; undefined without a deadline).
 */
export function refusalHoldMs(paceMs: number, retryAfterMs: number | undefined, leftMs: number | undefined, waitedMs = 0): number {
  if (!(paceMs > 0) || retryAfterMs === undefined || retryAfterMs < 0) return 0;
  const half = leftMs === undefined ? Infinity : Math.max(0, leftMs / 2);
  return Math.max(0, Math.floor(Math.min(paceMs - waitedMs, retryAfterMs, half)));
}

/**
 * Milliseconds to hold a refusal of who calls (UNAUTHENTICATED, PERMISSION_DENIED, HTTP 401 and
 * 403): no retry mends it, so no wait bounds the pace but the call's (refusalHoldMs).
 */
export const authRefusalHoldMs = (paceMs: number, leftMs: number | undefined, waitedMs: number): number =>
  refusalHoldMs(paceMs, Number.POSITIVE_INFINITY, leftMs, waitedMs);
