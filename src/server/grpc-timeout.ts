/**
 * The `grpc-timeout` request header (gRPC over HTTP/2: up to eight digits and a unit), read where a
 * stream is answered before grpc-js has made a call of it (header-refusal.ts), and one longer than
 * grpc-js can time taken out before it reads it.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { MAX_TIMER_MS } from '../shared/answer-deadline.js';
import type { GrpcHttp2Server } from './http2-servers.js';

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** Milliseconds the header allows; undefined when there is none, null when it is malformed. */
export function grpcTimeoutMs(header: string | string[] | undefined): number | undefined | null {
  if (header === undefined) return undefined;
  const match = typeof header === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : null;
}

/**
 * Takes a `grpc-timeout` longer than a timer holds (about 24.8 days) out of each new stream's
 * headers of `server`, before grpc-js reads it: grpc-js wraps such a timeout around to a negative
 * one, and the call failed at once with DEADLINE_EXCEEDED. A deadline that far off is as good as
 * none (the SDK sends none: src/client/call-settings.ts), and the call is served as one without.
 */
export function ignoreOverlongTimeouts(server: GrpcHttp2Server): void {
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'stream') {
      const headers = args[1] as IncomingHttpHeaders;
      const ms = grpcTimeoutMs(headers['grpc-timeout']);
      if (typeof ms === 'number' && ms > MAX_TIMER_MS) delete headers['grpc-timeout'];
    }
    return emit(event, ...args);
  }) as typeof server.emit;
}
