/**
 * Whether an answer ready now is too late to send as a success. The caller's clock started before
 * its request left it, the server's only once its event loop read the request's headers, and the
 * answer still has to be written, carried back and read by a caller whose own loop may be busy:
 * under overload both loops lag by tens of milliseconds (refusals held 50 ms reach the load
 * generator at 68-71 ms p99), and with a 5 ms margin `bench:overload` once read an OK answer 4 ms
 * after its 10 s deadline. An answer ready within the last 25 ms is treated as late.
 */
export const ANSWER_MARGIN_MS = 25;

/**
 * The longest delay a Node timer holds, 2^31 - 1 ms (about 24.8 days): armed for longer, one fires at
 * once, and grpc-js's server reads a `grpc-timeout` into such a timer. A deadline further off is as
 * good as none, and every path takes it so.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function tooLateToAnswer(deadline: number | undefined, now = Date.now()): boolean {
  return deadline !== undefined && now >= deadline - ANSWER_MARGIN_MS;
}
