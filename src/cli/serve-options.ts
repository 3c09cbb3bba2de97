/** What `ocr serve` hands the server: the command line, parsed and defaulted. */
import type { Precision } from '../engine/index.js';
import { CACHE_DEFAULTS, type CacheBackend } from '../server/result-cache-config.js';
import { DEFAULT_REFUSAL_PACE_MS } from '../server/refusal-pace.js';
import { DEFAULT_CONNECTION_LIMITS } from '../server/connection-limits.js';
import type { ServerAuthCliOptions } from './auth-options.js';
import type { ServerTlsCliOptions } from './tls-options.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** TLS (`--tls-cert`, `--tls-key`, `--tls-client-ca`, `--tls-client-crl`, `--consul-tls-*`): tls-options.ts. */
/** Tokens and quotas (`--api-keys`, `--jwks`, `--jwt-*`, `--no-protect-info`, `--quota-*`): auth-options.ts. */
export interface ServeOptions extends ServerTlsCliOptions, ServerAuthCliOptions {
  host: string;
  port: number;
  /** Inference worker threads; unset: one per CPU core, fewer under a CPU quota (machineCores). */
  workers?: number;
  /** onnxruntime intra-op threads per worker. */
  threads: number;
  /** onnxruntime intra-op threads of the detector when it runs alone; unset: the engine's default. */
  detectorThreads?: number;
  /** The recognizer's arithmetic; unset: the engine's default for this CPU. */
  recPrecision?: Precision;
  /** Path of the model manifest (JSON); unset: the bundled models. */
  models?: string;
  /** Directory of the rewritten models (model-cache.ts); unset: $OCR_MODEL_CACHE, else the package's .cache/models. */
  modelCache?: string;
  /** Largest image, in pixels, a request may carry; unset: the engine's default. */
  maxPixels?: number;
  /** Largest gRPC message accepted, in MiB. */
  maxMessageMb: number;
  /** Memory admitted work may hold at once, in MiB; unset: the engine's default for this machine. */
  memoryBudgetMb?: number;
  /** Calls without a deadline are refused when their estimated wait is longer than this; unset: the engine's default. */
  maxWaitMs?: number;
  /** How long a refusal for load, over a quota or of who calls is held before it is answered; 0: at once. */
  refusalPaceMs: number;
  /** No model task runs longer than this; unset: the engine's default. */
  taskCapMs?: number;
  /** Names this instance in responses and logs; unset: host name, port and a random suffix. */
  instanceId?: string;
  /** pino level: one of LOG_LEVELS. */
  logLevel: string;
  /** Port of the Prometheus /metrics endpoint; unset: none. */
  metricsPort?: number;
  /** The HTTP front door's port (REST API, Web UI, /metrics), on --host; 0: any free port. */
  httpPort: number;
  /** False with --no-http: gRPC only. */
  http: boolean;
  /** `--cors-origin`: origins whose pages may call the HTTP API from a browser, or `*`; unset: its own only. */
  corsOrigin?: string[];
  /** Connections open at once on all ports (lowered to fit the process's file limit). */
  maxConnections: number;
  /** Of those, from one client address. */
  maxConnectionsPerClient: number;
  /** An IPv6 client is keyed by this many first bits of its address, for every per-client limit (client-address.ts). */
  clientIpv6Prefix: number;
  /** On SIGTERM/SIGINT, how long calls in flight may still run before they are cancelled. */
  graceMs: number;
  /** Consul agent to register with; unset: CONSUL_HTTP_ADDR, and no Consul when that is unset too. */
  consul?: string;
  /** Consul ACL token; unset: the one in the file CONSUL_HTTP_TOKEN_FILE names, else CONSUL_HTTP_TOKEN. */
  consulToken?: string;
  /** Consul service name the instance registers under. */
  serviceName: string;
  /** Address registered in Consul; unset: --host, or for a wildcard this machine's first IPv4 address (consul-registration.ts, advertiseHostFor). */
  advertiseHost?: string;
  /**
   * gRPC and HTTP ports registered in Consul, where they differ from those bound: a container's
   * published ports. Unset: the bound ones.
   */
  advertisePort?: number;
  advertiseHttpPort?: number;
  /** Consul tags (`--tag a --tag b` or `--tag a b`). */
  tag?: string[];
  /** Where Recognize answers are kept for images sent again (`--cache memory|off|redis://HOST:PORT[/DB]`). */
  cache: CacheBackend;
  /** MiB of answers kept in this process (with Redis: in front of it). */
  cacheMaxMb: number;
  /** How long an answer is kept, in seconds. */
  cacheTtlS: number;
  /** Longest wait for one Redis command, in milliseconds. */
  cacheTimeoutMs: number;
}

/** Options that only shape a Consul registration: given with no Consul to register in, they would do nothing, without a word. */
export const CONSUL_ONLY_OPTIONS: readonly string[] = [
  'serviceName',
  'advertiseHost',
  'advertisePort',
  'advertiseHttpPort',
  'tag',
  'consulToken',
  'consulTlsServerName',
  'consulTlsSkipVerify',
];

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 50051,
  httpPort: 8080,
  http: true,
  maxConnections: DEFAULT_CONNECTION_LIMITS.max,
  maxConnectionsPerClient: DEFAULT_CONNECTION_LIMITS.perClient,
  clientIpv6Prefix: DEFAULT_CONNECTION_LIMITS.clientIpv6Prefix,
  threads: 1,
  maxMessageMb: 32,
  refusalPaceMs: DEFAULT_REFUSAL_PACE_MS,
  logLevel: 'info',
  graceMs: 10_000,
  serviceName: 'ocr',
  cache: { kind: CACHE_DEFAULTS.backend },
  cacheMaxMb: CACHE_DEFAULTS.maxMb,
  cacheTtlS: CACHE_DEFAULTS.ttlS,
  cacheTimeoutMs: CACHE_DEFAULTS.redisTimeoutMs,
} as const satisfies Partial<ServeOptions>;
