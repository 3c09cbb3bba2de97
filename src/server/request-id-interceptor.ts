/**
 * Every OCR call's request id, fixed as it arrives and said back. A call without one of its own
 * (grpcurl, ghz, a client that sets none) was logged under an id made for it that its caller never
 * saw, and by each interceptor under another: its caller could not point an operator at its lines.
 * Now the caller's x-request-id, or one made here, is put in the call's metadata, where every later
 * interceptor and the handler read it (call-context.ts), and sent back in the call's trailers, as
 * the HTTP front door sends it back in a header. A stream refused from its headers before grpc-js
 * sees it gets its id from header-refusal.ts, alike.
 */
import { Metadata, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { OCR_SERVICE } from '../shared/service-name.js';
import { REQUEST_ID_KEY } from '../shared/request-id.js';
import { requestId } from './call-context.js';

export function requestIdInterceptor(): ServerInterceptor {
  return (descriptor, call) => {
    if (!descriptor.path.startsWith(`/${OCR_SERVICE}/`)) return new ServerInterceptingCall(call);
    let id: string | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            id = requestId(metadata);
            metadata.set(REQUEST_ID_KEY, id);
            pass(metadata);
          },
        }),
      sendStatus: (status, next) => {
        if (id === undefined) return next(status);
        const metadata = status.metadata?.clone() ?? new Metadata();
        metadata.set(REQUEST_ID_KEY, id);
        next({ ...status, metadata });
      },
    });
  };
}
