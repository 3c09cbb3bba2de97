/**
 * Refusal for load before a call's request is read. Under overload most calls are refused; read
 * first, each costs its upload (a scan is half a megabyte), and fifty callers resending at once
 * spend the main thread and the connection on images that will be thrown away, while the refusal
 * waits for the last byte. When the wait ahead of a call alone leaves no room in its deadline, it
 * is answered from its headers: RESOURCE_EXHAUSTED with grpc-retry-pushback-ms, as the handler
 * would, and the client stops sending.
 */
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import type { Admission } from '../engine/index.js';
import { deadlineMs, priorityOf } from './call-context.js';
import type { ServerMetrics } from './metrics.js';
import { statusName, toServiceError } from './status.js';
import { OCR_SERVICE } from '../shared/service-name.js';

/** The calls whose cost is mostly their request: a whole page, or a batch of lines. */
const GATED = new Map([
  [`/${OCR_SERVICE}/Recognize`, 'Recognize'],
  [`/${OCR_SERVICE}/RecognizeLines`, 'RecognizeLines'],
]);

export function earlyRefusal(admission: Admission, metrics: ServerMetrics): ServerInterceptor {
  return (descriptor, call) => {
    const method = GATED.get(descriptor.path);
    if (!method) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            // A malformed priority is left to the handler, which refuses it with its reason.
            const priority = priorityOf(metadata) ?? 'interactive';
            const refusal = admission.refusalBeforeRequest(priority, deadlineMs(call.getDeadline()));
            if (!refusal) {
              pass(metadata);
              return;
            }
            const error = toServiceError(refusal);
            metrics.requests.inc({ method, code: statusName(error.code) });
            call.sendStatus({ code: error.code ?? status.RESOURCE_EXHAUSTED, details: error.details, metadata: error.metadata });
          },
        }),
    });
  };
}
