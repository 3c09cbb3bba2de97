/**
 * How the client's interceptors end a call they do not send (a token that cannot be had, metadata
 * over the servers' limit, a call ended while its token is awaited).
 */
import type { InterceptingListener, StatusObject } from '@grpc/grpc-js';

/**
 * Ends the call with `status` on the next tick, as grpc-js ends its own calls: a stream ended at
 * once would emit its 'error' inside OcrClient.recognizeTiles, before anything listens for it, which
 * throws grpc-js's raw Error there or crashes the process.
 */
export function endUnsent(listener: Pick<InterceptingListener, 'onReceiveStatus'>, status: StatusObject): void {
  process.nextTick(() => listener.onReceiveStatus(status));
}
