/**
 * The bounds on an instance's connections (connection-guard.ts), apart from the guard so that the
 * command line's options and defaults load without prom-client.
 */
import { DEFAULT_CLIENT_IPV6_PREFIX } from '../shared/client-address.js';

export interface ConnectionLimits {
  /** Connections open at once, all ports together. */
  max: number;
  /** Of those, from one client address. */
  perClient: number;
  /** An IPv6 client is keyed by this many first bits of its address (`--client-ipv6-prefix`, client-address.ts). */
  clientIpv6Prefix: number;
  /** At `max`, a connection with no call in progress for this long is closed to make room for a new one. */
  idleEvictMs: number;
}

/**
 * 256 an address: with 128 calls open on each (MAX_STREAMS_PER_CONNECTION), a client that reads
 * none of its answers holds about 0.23 GB of the server (0.9 MB a connection, docs/RESOURCES.md).
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  max: 4096,
  perClient: 256,
  clientIpv6Prefix: DEFAULT_CLIENT_IPV6_PREFIX,
  idleEvictMs: 1000,
};

/** File descriptors left to the server's own use beside its connections: models, /proc, Consul, Redis, logs. */
export const FD_RESERVE = 256;

/** The soft limit on open files from /proc/self/limits ("Max open files  S  H  files"); undefined where unknown or unlimited. */
export function openFileLimit(limits: string): number | undefined {
  const soft = /^Max open files\s+(\d+)\s/m.exec(limits)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/** `max`, lowered to leave FD_RESERVE descriptors under `fileLimit`; never below 1. */
export function connectionCap(max: number, fileLimit: number | undefined): number {
  return fileLimit === undefined ? max : Math.max(1, Math.min(max, fileLimit - FD_RESERVE));
}
