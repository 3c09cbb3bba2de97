/**
 * When each call's HTTP/2 stream came, for the time to its answer counted from there. A unary
 * handler runs only once the request has been read (after its upload turn and its upload), so a
 * refusal timed from the handler would leave out most of what its caller waited. The interceptors
 * need none of this: grpc-js makes them in the same turn as the stream's arrival.
 */
import type { ServerDuplexStream, ServerUnaryCall } from '@grpc/grpc-js';
import { findUnderCall } from './call-chain.js';
import type { GrpcHttp2Server } from './http2-servers.js';

const arrivals = new WeakMap<object, number>();

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

/** Note when each stream of `server` comes: before grpc-js's listener, whenever that was added. */
export function stampArrivals(server: GrpcHttp2Server): void {
  server.prependListener('stream', (stream: object) => arrivals.set(stream, performance.now()));
}

/**
 * performance.now() when the stream of a handler's `call` came, found under the interceptors
 * (call-chain.ts); `otherwise` where it is not (a server made without stampArrivals, or another
 * version of grpc-js).
 */
export function arrivalOf(call: ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>, otherwise: number): number {
  // grpc-js's handler call keeps the outermost intercepting call as `call`, not in its public type.
  const top = 'call' in call ? call.call : null;
  const stream = isObject(top) ? findUnderCall(top, 'stream', isObject) : null;
  return (stream && arrivals.get(stream)) ?? otherwise;
}
