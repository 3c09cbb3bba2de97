/**
 * The `grpc-timeout` request header (gRPC over HTTP/2: up to eight digits and a unit), read where a
 * stream is answered before grpc-js has made a call of it (header-refusal.ts).
 */

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** Milliseconds the header allows; undefined when there is none, null when it is malformed. */
export function grpcTimeoutMs(header: string | string[] | undefined): number | undefined | null {
  if (header === undefined) return undefined;
  const match = typeof header === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : null;
}
