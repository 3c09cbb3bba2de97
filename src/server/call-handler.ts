/**
 * What every call gets, whatever its shape (unary-call.ts, stream-call.ts): a request id, one
 * AbortSignal for cancellation and the deadline, its priority, errors mapped to statuses, and one
 * metric sample and one outcome log line. A call whose caller is gone (cancelled, deadline passed)
 * is counted as such, never as OK: grpc-js has already answered it, and nothing more is sent.
 */
import { status, type ServerDuplexStream, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import type { RecognizeOptions as EngineOptions } from '../engine/index.js';
import { isLoadRefusal, OcrError } from '../shared/errors.js';
import { arrivalOf } from './call-arrival.js';
import { callDeadline, callPriority, requestId, type ServiceContext } from './call-context.js';
import { statusName, toServiceError } from './status.js';
import { tooLateToAnswer } from '../shared/answer-deadline.js';

export type Method = 'Recognize' | 'RecognizeLines' | 'GetServerInfo' | 'RecognizeTiles';

/** What a handler knows of its call beyond the request: cancellation, deadline, priority. */
export type CallInfo = Pick<EngineOptions, 'signal' | 'deadline' | 'priority'> & { signal: AbortSignal };

/** What goes to the caller once the call has ended: nothing when it is gone or already answered. */
export type Reply = { send: 'ok' } | { send: 'error'; error: ServiceError } | { send: 'nothing' };

/** One call from its arrival to its one outcome. */
export class CallRecord {
  readonly requestId: string;
  readonly deadline: number | undefined;
  readonly peer: string;
  /**
   * performance.now() when its stream came (call-arrival.ts): a unary handler runs only once its
   * request has been read, and the caller's wait began before its upload, not after.
   */
  private readonly arrived: number;
  private readonly controller = new AbortController();
  private callerLeft = false;
  private ended = false;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly method: Method,
    private readonly call: ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  ) {
    this.arrived = arrivalOf(call, performance.now());
    this.requestId = requestId(call.metadata);
    this.deadline = callDeadline(call);
    this.peer = call.getPeer();
    // grpc-js reports a passed deadline as a cancellation too, after it has sent DEADLINE_EXCEEDED.
    call.on('cancelled', () => {
      this.callerLeft = true;
      this.controller.abort(new OcrError(this.late ? 'DEADLINE_EXCEEDED' : 'CANCELLED', 'the caller left'));
    });
    ctx.logger.debug({ requestId: this.requestId, method, deadline: this.deadline }, 'received');
  }

  /** Aborts when the caller leaves or the call ends, however: what the call still runs stops. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get open(): boolean {
    return !this.ended;
  }

  /** The call's cancellation, deadline and priority; INVALID_ARGUMENT for a malformed priority. */
  info(): CallInfo {
    return { signal: this.signal, deadline: this.deadline, priority: callPriority(this.call.metadata) };
  }

  /**
   * Ends the call, once: OK without `error`, else the error's status. Counts and logs it, aborts
   * the signal, and says what the caller is still to be sent. Later calls send nothing. `stalled`:
   * ended because the client stopped sending, which the error histogram does not time (metrics.ts).
   */
  end(error?: unknown, fields: Record<string, unknown> = {}, stalled = false): Reply {
    if (this.ended) return { send: 'nothing' };
    this.ended = true;
    this.controller.abort(new OcrError('CANCELLED', 'the call has ended'));
    const { method, ctx } = this;
    const seconds = (performance.now() - this.arrived) / 1000;
    // Each outcome's one line names the call, its time and its caller alike (the HTTP front door's too, app.ts).
    const log = { requestId: this.requestId, method, ...fields, ms: Math.round(seconds * 1000), peer: this.peer };
    const gone = this.late ? 'DEADLINE_EXCEEDED' : this.callerLeft ? 'CANCELLED' : null;
    if (gone) {
      ctx.metrics.requests.inc({ method, code: gone });
      ctx.logger.info({ ...log, code: gone }, 'ended after the caller left');
      return { send: 'nothing' };
    }
    if (error === undefined) {
      ctx.metrics.requests.inc({ method, code: 'OK' });
      ctx.metrics.latency.observe({ method }, seconds);
      ctx.logger.debug(log, 'answered');
      return { send: 'ok' };
    }
    const serviceError = toServiceError(error);
    const code = statusName(serviceError.code);
    ctx.metrics.answeredNotOk(method, code, stalled ? null : this.arrived);
    const refused = { ...log, code, message: serviceError.details };
    if (serviceError.code === status.INTERNAL) ctx.logger.error({ ...refused, err: error }, 'failed');
    // A refusal for load is counted, and logged at debug only, as the early refusals are (early-refusal.ts,
    // header-refusal.ts): under overload there are hundreds a second, and a line each would flood the log.
    else if (isLoadRefusal(error)) ctx.logger.debug(refused, 'refused');
    else ctx.logger.info(refused, 'refused');
    return { send: 'error', error: serviceError };
  }

  private get late(): boolean {
    return tooLateToAnswer(this.deadline);
  }
}
