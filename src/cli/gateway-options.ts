/** The options of `ocr gateway`, apart from the command so that `ocr --help` loads neither the SDK nor Fastify. */
import { DEFAULT_KEEPALIVE_TIME_MS, DEFAULT_KEEPALIVE_TIMEOUT_MS } from '../client/keepalive.js';
import type { LoadBalancing } from '../client/service-config.js';
import { defaultMemoryBudget } from '../engine/admission/memory-budget.js';
import { DEFAULT_CONNECTION_LIMITS } from '../server/connection-limits.js';
import { UPLOAD_MEMORY_SHARE } from '../server/upload-gate.js';
import type { ServerAuthCliOptions, TokenCliOptions } from './auth-options.js';
import type { GatewayHttpsCliOptions } from './gateway-https.js';
import type { ClientTlsCliOptions } from './tls-options.js';

/** TLS toward the instances (`--tls-ca`, `--tls-cert`/`--tls-key`, `--tls-server-name`): tls-options.ts. */
/** HTTPS on its own port (`--https-cert`/`--https-key`): gateway-https.ts. */
/**
 * Tokens: its own (`--api-keys`, `--jwks`, …, as serve takes them) and the one it sends the instances
 * when its caller sends none (`--token`): auth-options.ts.
 */
export interface GatewayOptions extends ClientTlsCliOptions, GatewayHttpsCliOptions, ServerAuthCliOptions, TokenCliOptions {
  /** The cluster: consul://AGENT/SERVICE, or host:port lists as the SDK takes them. */
  target: string;
  lb: LoadBalancing;
  host: string;
  httpPort: number;
  /** `--cors-origin`: origins whose pages may call the API from a browser, or `*`; unset: its own only. */
  corsOrigin?: string[];
  /** Connections open at once (lowered to fit the process's file limit), and from one client address. */
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** An IPv6 client is keyed by this many first bits of its address, for its connections and quotas (client-address.ts). */
  clientIpv6Prefix: number;
  /** Deadline of a request that sets no timeout of its own. */
  deadlineMs: number;
  /**
   * Pings on each instance's connection while calls are open on it, and how long one's answer may
   * take before the connection counts as dead: the bound on what a frozen instance costs (src/client/keepalive.ts).
   */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** Largest image accepted, in MiB (the instances' own limit still applies). */
  maxMessageMb: number;
  /** Images one /api/ocr/lines request may carry. */
  maxLines: number;
  /**
   * MiB the request bodies being read and those on their way to the cluster may hold, each; unset: a
   * quarter of the memory budget an instance on this machine would have.
   */
  bodyMemoryMb?: number;
  /** On SIGTERM/SIGINT, how long requests in flight may still finish. */
  graceMs: number;
  logLevel: string;
}

export const GATEWAY_DEFAULTS = {
  lb: 'least_request',
  host: '127.0.0.1',
  httpPort: 8080,
  maxConnections: DEFAULT_CONNECTION_LIMITS.max,
  maxConnectionsPerClient: DEFAULT_CONNECTION_LIMITS.perClient,
  clientIpv6Prefix: DEFAULT_CONNECTION_LIMITS.clientIpv6Prefix,
  deadlineMs: 30_000,
  keepaliveTimeMs: DEFAULT_KEEPALIVE_TIME_MS,
  keepaliveTimeoutMs: DEFAULT_KEEPALIVE_TIMEOUT_MS,
  maxMessageMb: 32,
  maxLines: 256,
  graceMs: 10_000,
  logLevel: 'info',
} as const satisfies Partial<GatewayOptions>;

/** The default of `--body-memory-mb`, in bytes: the uploads' share of an instance with `cores` workers, on a machine of `totalBytes`. */
export function defaultBodyMemoryBytes(totalBytes: number, cores: number): number {
  return defaultMemoryBudget(totalBytes, cores) * UPLOAD_MEMORY_SHARE;
}
