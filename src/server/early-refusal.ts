/**
 * Refusal for load before a call's request is read. Under overload most calls are refused; read
 * first, each costs its upload (a scan is half a megabyte), and fifty callers resending at once
 * spend the main thread and the connection on images that will be thrown away, while the refusal
 * waits for the last byte. When the wait ahead leaves no room in a call's deadline for a typical
 * call of its method (request-weighing.ts, the rule HTTP requests meet too), it is answered from
 * its headers: RESOURCE_EXHAUSTED with
 * grpc-retry-pushback-ms, as the handler would, after the refusal pace (refusal-pace.ts), and the
 * stream is reset so that the client stops sending (request-upload.ts). A call is weighed on
 * arrival and again when its upload may start: a connection uploads a few calls at once, the others
 * wait unread (upload-gate.ts). A call let in counts as a typical one ahead of later arrivals until
 * its request is read (Admission.promise). While calls are refused, the server's sessions announce a
 * narrower window per call (http2-receive-window.ts), so that each refused call sends less. From its
 * upload turn, a call's request must keep coming (upload-idle.ts); what the requests being read hold
 * together is bounded by a share of the memory budget (upload-gate.ts). A call that ends before its
 * handler has it, its client gone or its deadline passed while it waited for its turn or uploaded,
 * is counted here: nothing else sees it end.
 */
import { ServerInterceptingCall, type Metadata, type ServerInterceptor, type StatusObject } from '@grpc/grpc-js';
import type { Admission, WorkKind } from '../engine/index.js';
import { findUnderCall } from './call-chain.js';
import { callPriority, deadlineMs, priorityOf, requestId, type ServiceLimits } from './call-context.js';
import { findDecoder, reportHeldBytes } from './incremental-decoder.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';
import type { ReceiveWindowControl } from './http2-receive-window.js';
import { refusalHoldMs } from './refusal-pace.js';
import { stopRequestUpload } from './request-upload.js';
import { slicedAnswers } from './sliced-answers.js';
import { weighRequest } from './request-weighing.js';
import { isUploadStream, type UploadGate, type UploadTicket } from './upload-gate.js';
import { uploadIdleError, watchUploadIdle } from './upload-idle.js';
import { statusName, toStatus } from './status.js';
import { OCR_SERVICE } from '../shared/service-name.js';
import { tooLateToAnswer } from '../shared/answer-deadline.js';

/** The calls whose cost is mostly their request, a whole page or a batch of lines, with the kind of work they are. */
export const GATED = new Map<string, { method: string; kind: WorkKind }>([
  [`/${OCR_SERVICE}/Recognize`, { method: 'Recognize', kind: 'page' }],
  [`/${OCR_SERVICE}/RecognizeLines`, { method: 'RecognizeLines', kind: 'line' }],
]);

const isHttp2Stream = (value: unknown): value is { closed: boolean } =>
  typeof value === 'object' && value !== null && 'rstCode' in value && 'closed' in value;

/** Whether the HTTP/2 stream under `call` has closed, its client having reset it or dropped its connection: no status reaches it. */
const streamClosed = (call: object): boolean => findUnderCall(call, 'stream', isHttp2Stream)?.closed ?? false;

/**
 * `admission`: the engine's, once it has started; until then OcrService answers UNAVAILABLE itself
 * (starting-service.ts). `uploads`: the instance's, shared with its HTTP front door. `window`: told
 * of each refusal. `logger`: where a call that ended before its handler had it is logged, asked
 * then (the server's is made once its port is bound).
 */
export function earlyRefusal(
  admission: () => Admission | undefined,
  metrics: ServerMetrics,
  limits: Pick<ServiceLimits, 'refusalPaceMs' | 'maxUploadIdleMs'>,
  uploads: UploadGate,
  window?: ReceiveWindowControl,
  logger: () => Logger | undefined = () => undefined,
): ServerInterceptor {
  return (descriptor, call) => {
    const gated = GATED.get(descriptor.path);
    const gate = admission();
    if (!gated || !gate) return new ServerInterceptingCall(call);
    const { method, kind } = gated;
    // grpc-js makes the interceptors in the turn the stream came: the pace, and the time to the
    // answer, count from here. Time spent waiting for an upload turn is part of the pace, not added to it.
    const arrived = performance.now();
    let ticket: UploadTicket | undefined;
    const release = (): void => ticket?.release();
    let unpromise = (): void => undefined;
    let unwatch = (): void => undefined;
    /** The call's request id and peer, once its metadata has come through: it is this interceptor's to count until `counted`. */
    let id: string | undefined;
    let peer = '';
    /** Whether the call's end is counted: refused here, answered by a later interceptor, or handed to its handler. */
    let counted = false;
    /** Whether its message came whole, and whether its request ended without one (grpc-js then answers it itself). */
    let messageCame = false;
    let endedEmpty = false;
    /**
     * Counts and logs a call that ended before its handler had it: its client cancelled it, or its
     * deadline passed (grpc-js answered that itself), while it waited for its upload turn or
     * uploaded. Not timed, as the handler's calls whose caller left are not (call-handler.ts). At
     * debug: a client that opens and resets streams would write a line each.
     */
    const countGone = (): void => {
      const code = tooLateToAnswer(deadlineMs(call.getDeadline())) ? 'DEADLINE_EXCEEDED' : 'CANCELLED';
      metrics.requests.inc({ method, code });
      const ms = Math.round(performance.now() - arrived);
      logger()?.debug({ requestId: id, method, code, ms, peer }, 'ended after the caller left');
    };
    /** End the call with `status`; its request, if it is still coming, is not read. `stalled`: its client stopped sending. */
    const answer = (status: StatusObject, stalled = false): void => {
      counted = true;
      const code = statusName(status.code);
      metrics.answeredNotOk(method, code, stalled ? null : arrived);
      // At debug only, as every refusal for load: under overload there are hundreds a second.
      const ms = Math.round(performance.now() - arrived);
      logger()?.debug({ requestId: id, method, code, message: status.details, ms, peer }, 'refused');
      call.sendStatus(status);
      stopRequestUpload(call);
    };
    /** The request may be read from now: it must keep coming. */
    const upload = (metadata: Metadata, pass: (metadata: Metadata) => void, turn: UploadTicket): void => {
      // Where grpc-js keeps its own decoder (another version), neither the idle limit nor the held bytes apply.
      const decoder = findDecoder(call);
      if (decoder) {
        unwatch = watchUploadIdle(
          decoder,
          limits.maxUploadIdleMs,
          () => {
            unpromise();
            release();
            answer(toStatus(uploadIdleError(limits.maxUploadIdleMs)), true);
          },
          () => turn.readingSince,
        );
        reportHeldBytes(decoder, (bytes) => turn.held(bytes));
      }
      pass(metadata);
    };
    /** Let the call in (its request may be read), or refuse it: held for the pace, then answered. */
    const weigh = (metadata: Metadata, arriving: boolean): boolean => {
      const deadline = deadlineMs(call.getDeadline());
      // A malformed priority was refused on arrival.
      const weighing = weighRequest(gate, { kind, priority: priorityOf(metadata) ?? 'interactive', deadline, arriving });
      if (!weighing.refusal) {
        unpromise = weighing.unpromise;
        return true;
      }
      const { refusal } = weighing;
      counted = true;
      window?.refused();
      const refuse = (): void => slicedAnswers.run(() => answer(toStatus(refusal)));
      const left = deadline === undefined ? undefined : deadline - Date.now();
      const hold = refusalHoldMs(limits.refusalPaceMs, refusal.retryAfterMs, left, performance.now() - arrived);
      if (hold > 0) setTimeout(refuse, hold);
      else refuse();
      return false;
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          // Weighed on arrival, so that a call with no room is refused without waiting for an upload
          // turn behind the calls let in before it, and again at its turn if it had to wait for it,
          // since the wait ahead may have changed meanwhile.
          onReceiveMetadata: (metadata, pass) => {
            id = requestId(metadata);
            // Read now: once its connection has gone, grpc-js no longer says who it was.
            peer = call.getPeer();
            // A malformed priority is refused now, its request unread: the handler refuses it only
            // once the whole request has come, a 30 MB upload for a typo in a header.
            try {
              callPriority(metadata);
            } catch (err) {
              answer(toStatus(err));
              return;
            }
            if (!weigh(metadata, true)) return;
            let waited = false;
            ticket = uploads.enter(
              call.getPeer(),
              (turn) => {
                if (!waited) return upload(metadata, pass, turn);
                unpromise();
                if (weigh(metadata, false)) upload(metadata, pass, turn);
                else turn.release();
              },
              {
                stream: findUnderCall(call, 'stream', isUploadStream) ?? undefined,
                onStall: () => {
                  unwatch();
                  unpromise();
                  release();
                  answer(toStatus(uploads.stallError()), true);
                },
              },
            );
            waited = true;
          },
          onReceiveMessage: (message, pass) => {
            messageCame = true;
            unpromise();
            release();
            pass(message);
          },
          // Not at the message: grpc-js calls the handler only once the request is half-closed.
          onReceiveHalfClose: (next) => {
            unwatch();
            // The handler counts the call from here (call-handler.ts).
            if (messageCame) counted = true;
            else endedEmpty = true;
            next();
          },
          // Also when grpc-js itself ends the call before its message (one over the size limit), and
          // after every status: grpc-js reports each call's end as a cancellation.
          onCancel: () => {
            unwatch();
            unpromise();
            release();
            if (id !== undefined && !counted) countGone();
          },
        }),
      // grpc-js's own answer to a request that ended without its message, or a later interceptor's
      // (oversize-refusal.ts), which counts its own. A client that resets its stream or drops its
      // connection mid-upload ends the request too: grpc-js's answer then reaches no one, and the
      // call is counted as cancelled when it ends (onCancel).
      sendStatus: (status, next) => {
        if (!counted && endedEmpty) {
          if (streamClosed(call)) return next(status);
          metrics.answeredNotOk(method, statusName(status.code), arrived);
        }
        counted = true;
        next(status);
      },
    });
  };
}
