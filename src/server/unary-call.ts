import type { handleUnaryCall } from '@grpc/grpc-js';
import type { ServiceContext } from './call-context.js';
import { CallRecord, type CallInfo, type Method } from './call-handler.js';
import { decoded } from './request-decoding.js';

// The unary handlers (ocr-handlers.ts) name their CallInfo from here.
export type { CallInfo, Method } from './call-handler.js';

/** A unary handler: its request and call in, its response out, everything else call-handler.ts's. */
export function unary<Req, Res>(
  ctx: ServiceContext,
  method: Method,
  work: (request: Req, info: CallInfo) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const record = new CallRecord(ctx, method, call);
    const answer = async (): Promise<Res> => work(decoded(call.request), record.info());
    answer().then(
      (response) => {
        if (record.end().send === 'ok') callback(null, response);
      },
      (err: unknown) => {
        const reply = record.end(err);
        if (reply.send === 'error') callback(reply.error);
      },
    );
  };
}
