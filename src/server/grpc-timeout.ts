/**
 * The `grpc-timeout` request header (gRPC over HTTP/2: up to eight digits and a unit), read where a
 * stream is answered before grpc-js has made a call of it (header-refusal.ts), and screened before
 * grpc-js reads it.
 */
import { status } from '@grpc/grpc-js';
import { MAX_TIMER_MS } from '../shared/answer-deadline.js';
import { shown } from '../shared/shown.js';
import type { GrpcHttp2Server } from './http2-servers.js';
import { screenStreams } from './stream-screen.js';
import { refuseStream, type StreamRefusals } from './trailers-only.js';

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** Milliseconds the header allows; undefined when there is none, null when it is malformed. */
export function grpcTimeoutMs(header: string | string[] | undefined): number | undefined | null {
  if (header === undefined) return undefined;
  const match = typeof header === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : null;
}

/** What a caller whose `grpc-timeout` is malformed is told. */
function malformedTimeout(header: string | string[]): string {
  return (
    `grpc-timeout is ${shown(String(header))}, which is no gRPC timeout: send up to 8 digits and a unit ` +
    '(H, M, S, m, u or n: 30S, 1500m), or no grpc-timeout for a call without a deadline'
  );
}

/**
 * Screens the `grpc-timeout` of each new stream of `server` before grpc-js reads it.
 *
 * A malformed one is answered INVALID_ARGUMENT, saying the format. grpc-js ends such a call INTERNAL
 * ("Invalid grpc-timeout value"), a server fault to the caller's eyes, neither counted nor logged;
 * and it reads the header leniently, '1.5S' as 5 s.
 *
 * One longer than a timer holds (about 24.8 days) is taken out: grpc-js wraps such a timeout around
 * to a negative one, and the call failed at once with DEADLINE_EXCEEDED. A deadline that far off is
 * as good as none (the SDK sends none: src/client/call-settings.ts), and the call is served as one without.
 */
export function screenTimeouts(server: GrpcHttp2Server, refusals: StreamRefusals): void {
  screenStreams(server, (stream, headers) => {
    const header = headers['grpc-timeout'];
    const ms = grpcTimeoutMs(header);
    if (ms === null) return refuseStream(stream, headers, refusals, status.INVALID_ARGUMENT, malformedTimeout(header!));
    if (typeof ms === 'number' && ms > MAX_TIMER_MS) delete headers['grpc-timeout'];
    return false;
  });
}
