/**
 * HTTP/2 keepalive of the client's connections: how a connection to an instance that stops answering
 * without closing it (a frozen process, a paused VM, a partition, a host gone) is found dead. No RST
 * ever comes from such an instance, so grpc-js keeps its connection READY, the balancer keeps picking
 * it, and every call on it waits out its whole deadline. With keepalive, grpc-js 1.14 (transport.ts)
 * sends a PING every `timeMs` on a connection while calls are open on it, and when no ACK comes
 * within `timeoutMs` it drops the connection: the calls open on it end UNAVAILABLE, which the
 * client's retry policy resends to another instance (service-config.ts), and the balancer stops
 * picking it. A frozen instance thus costs a call at most `timeMs + timeoutMs`.
 *
 * Pings go only while calls are open (grpc.keepalive_permit_without_calls stays off): an idle
 * connection costs nothing, and its first call after idling is covered by the same bound.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { MAX_TIMER_MS } from '../shared/answer-deadline.js';

/**
 * Between pings on a connection with calls open. 0.2 PING frames a second each way per busy
 * connection, nothing beside a call's own bytes; with the timeout, a frozen instance is found
 * within 10 s, a third of the default 30 s deadline, leaving the rest for the call's retry.
 */
export const DEFAULT_KEEPALIVE_TIME_MS = 5_000;

/**
 * How long a ping's ACK may take: over ten times what a healthy instance under attack takes to answer
 * (its slowest GetServerInfo under bursts of large uploads or floods of stalled ones, 86-433 ms in
 * docs/BENCHMARKS.md). A client whose own event loop blocks longer than this while a ping is out
 * (encoding a hundred 30 MB requests at once, as bench/burst.ts does) drops a healthy connection,
 * and its calls are retried.
 */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5_000;

export interface KeepaliveSettings {
  /** Milliseconds between pings while calls are open; Infinity: no pings. */
  timeMs: number;
  /** Milliseconds a ping's ACK may take before the connection is dropped. */
  timeoutMs: number;
}

/** The grpc-js channel options of `settings`; throws a RangeError for a value grpc-js would misread. */
export function keepaliveChannelOptions(settings: KeepaliveSettings): ChannelOptions {
  const { timeMs, timeoutMs } = settings;
  // Node's timers fire at once for a delay over 2^31 - 1 ms: pings would flood, or time out at once.
  if (!(timeMs > 0 && (timeMs <= MAX_TIMER_MS || timeMs === Infinity))) {
    throw new RangeError(`keepaliveTimeMs must be milliseconds from 1 to ${MAX_TIMER_MS}, or Infinity for no pings; got ${timeMs}`);
  }
  if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
    throw new RangeError(`keepaliveTimeoutMs must be milliseconds from 1 to ${MAX_TIMER_MS}; got ${timeoutMs}`);
  }
  // grpc-js sends no pings when grpc.keepalive_time_ms is absent.
  if (timeMs === Infinity) return {};
  return { 'grpc.keepalive_time_ms': Math.ceil(timeMs), 'grpc.keepalive_timeout_ms': Math.ceil(timeoutMs) };
}
