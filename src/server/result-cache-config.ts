/**
 * The result cache's settings (`ocr serve --cache`, `--cache-max-mb`, `--cache-ttl-s`), apart from
 * its code: the command line parses them without loading ioredis.
 */

/** Where results are kept: this process's memory, a Redis shared by instances (with memory in front), or nowhere. */
export type CacheBackend = { kind: 'memory' } | { kind: 'off' } | { kind: 'redis'; url: string };

export interface ResultCacheConfig {
  backend: CacheBackend;
  /** Bytes of results this process keeps in memory (keys and values); with Redis, the memory in front of it. 0: none. */
  maxBytes: number;
  /** How long a result is kept after it was computed, in memory and in Redis. */
  ttlMs: number;
  /** Longest wait for one Redis command: past it, the call is computed as if there were no cache. */
  redisTimeoutMs?: number;
}

export const CACHE_DEFAULTS = {
  backend: 'memory',
  /** A page's result is a few KiB of JSON (about 150 bytes a line): 64 MiB holds some ten thousand pages. */
  maxMb: 64,
  ttlS: 3600,
  /** A Redis nearby answers in well under a millisecond; tens of ms is a Redis in trouble, not worth a call's wait. */
  redisTimeoutMs: 50,
} as const;

/**
 * `memory`, `off`, or `redis://[user:password@]host[:port][/db]` (`rediss://` for TLS). Throws an
 * Error that says what is accepted.
 */
export function parseCacheBackend(spec: string): CacheBackend {
  if (spec === 'memory' || spec === 'off') return { kind: spec };
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new Error(`It must be memory, off, or redis://HOST:PORT[/DB].`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new Error(`It must be memory, off, or redis://HOST:PORT[/DB], not ${url.protocol}//.`);
  if (!url.hostname) throw new Error('The Redis URL names no host: redis://HOST:PORT[/DB].');
  if (!/^\/?(\d+)?$/.test(url.pathname))
    throw new Error(`The Redis database is '${url.pathname.slice(1)}'; it must be a number (redis://HOST:PORT/DB).`);
  if (url.search || url.hash) throw new Error('The Redis URL takes no query or fragment: redis://HOST:PORT[/DB].');
  return { kind: 'redis', url: spec };
}

/** The URL as logs may show it: without its password. */
export function redactedUrl(spec: string): string {
  const url = new URL(spec);
  if (url.password) url.password = '***';
  return url.toString();
}
