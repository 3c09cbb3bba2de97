/**
 * An HTTP request's timeout kept as a gRPC deadline is: the moment it passes, the request is answered
 * 504 and its work stopped (the call's signal), rather than answered late once the work is done. A
 * client whose own timeout is its timeout_ms would otherwise see its connection time out instead of
 * the 504 the API documents.
 */
import { ANSWER_MARGIN_MS, MAX_TIMER_MS, tooLateToAnswer } from '../shared/answer-deadline.js';
import type { HttpCall } from './backend.js';
import { HttpError, TIMEOUT_PASSED } from './failure.js';

const deadlineExceeded = (): HttpError => new HttpError(504, 'DEADLINE_EXCEEDED', TIMEOUT_PASSED);

/** Abort `controller` with the 504 when `deadline` (Date.now() milliseconds) passes; the function returned disarms it. */
export function abortAtDeadline(controller: AbortController, deadline: number): () => void {
  const delayMs = deadline - ANSWER_MARGIN_MS - Date.now();
  if (delayMs > MAX_TIMER_MS) return () => undefined;
  const timer = setTimeout(() => controller.abort(deadlineExceeded()), Math.max(0, delayMs));
  return () => clearTimeout(timer);
}

/** The backend's answer to `call`, or its 504 as soon as its timeout passes (abortAtDeadline); an answer ready too late is a 504 too. */
export async function answerInTime<T>(work: Promise<T>, call: HttpCall): Promise<T> {
  const { signal } = call;
  let onAbort = (): void => undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    // Only the timeout answers here: a client gone away has no one to answer.
    onAbort = () => {
      if (signal.reason instanceof HttpError) reject(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  // Stopped after its 504, the work's own failure is no one's to hear.
  work.catch(() => undefined);
  try {
    const answer = await Promise.race([work, timedOut]);
    if (tooLateToAnswer(call.deadline)) throw deadlineExceeded();
    return answer;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
