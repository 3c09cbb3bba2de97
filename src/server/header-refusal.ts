/**
 * Refusal for load from an HTTP/2 stream's headers, before grpc-js makes a call of it. Under
 * overload most calls are refused and their callers resend at once; through grpc-js each refusal
 * also costs a call object, the interceptor chain and its status's metadata, on the main thread that
 * the calls being served need too: about a tenth of that thread's share at 100 callers, the rest
 * being the HTTP/2 stream itself (docs/BENCHMARKS.md, "Tried and kept"). A stream of a gated method (early-refusal.ts) that no
 * token check must see first is weighed here by the rule the early refusal applies on arrival
 * (Admission.refusalBeforeRequest, without request-weighing.ts's promise: grpc-js's call makes that);
 * refused, it gets the same answer after the same pace: a trailers-only RESOURCE_EXHAUSTED with its
 * hints, then a reset so that the client stops sending. A stream let in, or one whose headers this
 * does not read as grpc-js would (a malformed priority, another content type; a malformed timeout
 * never comes here: grpc-timeout.ts answers it), goes on to grpc-js, whose early refusal weighs it
 * again and counts it ahead of later arrivals.
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Admission } from '../engine/index.js';
import { PRIORITY_METADATA, priorityNamed } from './call-context.js';
import { GATED } from './early-refusal.js';
import { grpcTimeoutMs } from './grpc-timeout.js';
import type { ReceiveWindowControl } from './http2-receive-window.js';
import type { GrpcHttp2Server } from './http2-servers.js';
import type { ServerMetrics } from './metrics.js';
import { refusalHoldMs } from './refusal-pace.js';
import { slicedAnswers } from './sliced-answers.js';
import { screenStreams } from './stream-screen.js';
import { statusName, toStatus } from './status.js';
import { answerTrailersOnly } from './trailers-only.js';
import type { Logger } from './logger.js';
import { clientPeer } from '../shared/client-address.js';
import { REQUEST_ID_KEY, requestIdOf } from '../shared/request-id.js';

export interface HeaderRefusalOptions {
  /** The engine's, once it has started; until then every stream goes to grpc-js. */
  admission: () => Admission | undefined;
  /** Whether a token check must see calls of `path` first (access-interceptor.ts): those go to grpc-js. */
  checked: (path: string) => boolean;
  metrics: ServerMetrics;
  /** How long a refusal for load is held (refusal-pace.ts). */
  paceMs: number;
  /** Told of each refusal. */
  window?: ReceiveWindowControl;
  /** Where each refusal is logged, at debug (asked then: the server's is made once its port is bound). */
  logger?: () => Logger | undefined;
}

/** Answer the streams of `server` that are refused for load from their headers; hand every other to grpc-js. */
export function refuseFromHeaders(server: GrpcHttp2Server, options: HeaderRefusalOptions): void {
  screenStreams(server, headerRefusal(options));
}

/** Whether a new stream was refused for load (and is being answered), from its headers alone. */
function headerRefusal(options: HeaderRefusalOptions): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean {
  const { admission, checked, metrics, paceMs, window, logger = () => undefined } = options;
  return (stream, headers) => {
    const path = String(headers[constants.HTTP2_HEADER_PATH]);
    const gated = GATED.get(path);
    const gate = admission();
    if (!gated || !gate || checked(path)) return false;
    const contentType = headers[constants.HTTP2_HEADER_CONTENT_TYPE];
    const timeoutMs = grpcTimeoutMs(headers['grpc-timeout']);
    const priority = priorityNamed(headers[PRIORITY_METADATA]);
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc') || timeoutMs === null || !priority) return false;
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const refusal = gate.refusalBeforeRequest(priority, deadline, gated.kind, { arriving: true });
    if (!refusal) return false;
    // In the turn the stream came in: its time to the answer counts from here.
    const arrived = performance.now();
    window?.refused();
    // grpc-js sets one too: an error after the client's reset must not be thrown.
    stream.on('error', () => undefined);
    // Its caller's, or one made for it: sent back as grpc-js's calls send theirs (request-id-interceptor.ts), and logged.
    const id = requestIdOf(headers[REQUEST_ID_KEY]);
    // At debug only, as every refusal for load: under overload there are a thousand a second, and
    // the line's fields are made only where it is written. Its peer is read now: once its client
    // has gone, its session no longer says who it was.
    const log = logger();
    const peer = log?.isLevelEnabled('debug')
      ? clientPeer(stream.session?.socket?.remoteAddress, stream.session?.socket?.remotePort)
      : undefined;
    const answer = (): void => {
      const { code, details, metadata } = toStatus(refusal);
      metrics.answeredNotOk(gated.method, statusName(code), arrived);
      if (peer !== undefined) {
        const ms = Math.round(performance.now() - arrived);
        log!.debug({ requestId: id, method: gated.method, code: statusName(code), message: details, ms, peer }, 'refused');
      }
      metadata.set(REQUEST_ID_KEY, id);
      answerTrailersOnly(stream, code, details, metadata);
    };
    // As grpc-js's calls are: a refusal whose client went away meanwhile is counted all the same.
    const hold = refusalHoldMs(paceMs, refusal.retryAfterMs, timeoutMs);
    if (hold > 0) setTimeout(() => slicedAnswers.run(answer), hold);
    else slicedAnswers.run(answer);
    return true;
  };
}
