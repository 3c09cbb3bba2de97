import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type { RecognizeOptions as EngineOptions } from '../engine/index.js';
import { callDeadline, callPriority, callSignal, requestId, type ServiceContext } from './call-context.js';
import { toServiceError, statusName } from './status.js';

export type Method = 'Recognize' | 'RecognizeLines' | 'GetServerInfo';

/** What a handler knows of its call beyond the request: cancellation, deadline, priority. */
export type CallInfo = Pick<EngineOptions, 'signal' | 'deadline' | 'priority'> & { signal: AbortSignal };

/**
 * Runs one unary call: cancellation, deadline and priority wired to the engine, errors mapped to
 * statuses, and one log line and metric sample per call. A call whose caller is gone (deadline
 * passed, cancelled) is counted as such, never as OK: grpc-js has already answered it.
 */
export function unary<Req, Res>(
  ctx: ServiceContext,
  method: Method,
  work: (request: Req, info: CallInfo) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const started = performance.now();
    const id = requestId(call.metadata);
    const controller = callSignal(call);
    const deadline = callDeadline(call);
    ctx.logger.debug({ requestId: id, method, deadline }, 'received');
    const answer = async (): Promise<Res> => work(call.request, { signal: controller.signal, deadline, priority: callPriority(call.metadata) });
    answer().then(
      (response) => {
        const seconds = (performance.now() - started) / 1000;
        const late = deadline !== undefined && Date.now() >= deadline;
        const code = late ? 'DEADLINE_EXCEEDED' : controller.signal.aborted ? 'CANCELLED' : 'OK';
        ctx.metrics.requests.inc({ method, code });
        if (code !== 'OK') {
          ctx.logger.info({ requestId: id, method, code, ms: Math.round(seconds * 1000) }, 'answer ready after the caller left');
          return;
        }
        ctx.metrics.latency.observe({ method }, seconds);
        ctx.logger.debug({ requestId: id, method, ms: Math.round(seconds * 1000) }, 'answered');
        callback(null, response);
      },
      (err: unknown) => {
        const error = toServiceError(err);
        const code = statusName(error.code);
        ctx.metrics.requests.inc({ method, code });
        const log = { requestId: id, method, code, message: error.details, peer: call.getPeer() };
        if (error.code === status.INTERNAL) ctx.logger.error({ ...log, err }, 'failed');
        else ctx.logger.info(log, 'refused');
        callback(error);
      },
    );
  };
}
