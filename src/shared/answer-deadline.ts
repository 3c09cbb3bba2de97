/**
 * Whether an answer ready now is too late to send as a success. The caller's clock started before
 * its request left it, and the answer still has to be serialized, written and carried back: one
 * ready within the last few milliseconds reaches the caller after its deadline (`bench:overload`
 * once saw an OK arrive 0.3 ms late at the client). Such an answer is treated as late.
 */
export const ANSWER_MARGIN_MS = 5;

export function tooLateToAnswer(deadline: number | undefined, now = Date.now()): boolean {
  return deadline !== undefined && now >= deadline - ANSWER_MARGIN_MS;
}
