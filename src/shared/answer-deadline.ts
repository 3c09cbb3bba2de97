/**
 * Whether an answer ready now is too late to send as a success. The caller's clock started before
 * its request left it, and the answer still has to be serialized, written and carried back: one
 * ready within the last few milliseconds reaches the caller after its deadline (`bench:overload`
 * once saw an OK arrive 0.3 ms late at the client). Such an answer is treated as late.
 */
export const ANSWER_MARGIN_MS = 5;

/**
 * The longest delay a Node timer holds, 2^31 - 1 ms (about 24.8 days): armed for longer, one fires at
 * once, and grpc-js's server reads a `grpc-timeout` into such a timer. A deadline further off is as
 * good as none, and every path takes it so.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function tooLateToAnswer(deadline: number | undefined, now = Date.now()): boolean {
  return deadline !== undefined && now >= deadline - ANSWER_MARGIN_MS;
}
