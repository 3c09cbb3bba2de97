/**
 * Where the result cache (result-cache.ts) keeps its entries: this process's memory (an LRU bounded
 * by bytes and age), a Redis that instances share, or both, memory in front. A store may fail
 * (Redis down, slow): its callers then compute the call as if there were no cache. The Redis store
 * is in redis-store.ts.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from './logger.js';
import { CACHE_DEFAULTS, redactedUrl, type ResultCacheConfig } from './result-cache-config.js';

/** An entry as read back, with what is left of its time to live when the store knows it. */
export interface StoredEntry {
  value: Buffer;
  ttlMs?: number;
}

export interface ResultStore {
  /** Undefined for a miss; rejects when the store cannot answer. */
  get(key: string): Promise<StoredEntry | undefined>;
  /** `ttlMs` shortens the store's own time to live (an entry copied from a store behind). */
  set(key: string, value: Buffer, ttlMs?: number): Promise<void>;
  close(): Promise<void>;
  /** Bytes of entries held in this process's memory. */
  readonly heldBytes: number;
}

/** An LRU in this process: at most `maxBytes` of keys and values, each entry for at most `ttlMs` after it was written. */
export class MemoryStore implements ResultStore {
  private readonly lru: LRUCache<string, Buffer>;

  constructor(maxBytes: number, ttlMs: number) {
    this.lru = new LRUCache<string, Buffer>({
      maxSize: maxBytes,
      sizeCalculation: (value, key) => value.length + key.length,
      ttl: ttlMs,
      // An entry's age counts from its computation, not from its last use: the TTL bounds how long a
      // result is kept at all.
      updateAgeOnGet: false,
    });
  }

  get(key: string): Promise<StoredEntry | undefined> {
    const value = this.lru.get(key);
    return Promise.resolve(value && { value });
  }

  set(key: string, value: Buffer, ttlMs?: number): Promise<void> {
    this.lru.set(key, value, ttlMs !== undefined ? { ttl: ttlMs } : {});
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.lru.clear();
    return Promise.resolve();
  }

  get heldBytes(): number {
    return this.lru.calculatedSize;
  }
}

/**
 * Memory in front of a store behind (Redis): a hit in memory costs no round trip and survives the
 * store behind being down; a hit behind is copied into memory for what is left of its time to live.
 */
export class TieredStore implements ResultStore {
  constructor(
    private readonly front: ResultStore,
    private readonly back: ResultStore,
  ) {}

  async get(key: string): Promise<StoredEntry | undefined> {
    const near = await this.front.get(key);
    if (near) return near;
    const far = await this.back.get(key);
    if (far) await this.front.set(key, far.value, far.ttlMs);
    return far;
  }

  async set(key: string, value: Buffer, ttlMs?: number): Promise<void> {
    await this.front.set(key, value, ttlMs);
    await this.back.set(key, value, ttlMs);
  }

  async close(): Promise<void> {
    await Promise.all([this.front.close(), this.back.close()]);
  }

  get heldBytes(): number {
    return this.front.heldBytes + this.back.heldBytes;
  }
}

/** The store `config` asks for; null when the cache is off. A Redis that cannot be reached yet is logged, and connected to later. */
export async function openResultStore(config: ResultCacheConfig, logger: Logger): Promise<ResultStore | null> {
  const { backend, maxBytes, ttlMs } = config;
  const memory = maxBytes > 0 ? new MemoryStore(maxBytes, ttlMs) : null;
  if (backend.kind === 'off') return null;
  if (backend.kind === 'memory') return memory;
  // Loaded only here: an instance without Redis does not load its client (about 0.18 s of a start).
  const { RedisStore, STARTUP_WAIT_MS } = await import('./redis-store.js');
  const redis = new RedisStore(backend.url, ttlMs, config.redisTimeoutMs ?? CACHE_DEFAULTS.redisTimeoutMs, logger);
  if (await redis.ready(STARTUP_WAIT_MS))
    logger.info({ cache: redactedUrl(backend.url), memoryBytes: maxBytes, ttlMs }, 'result cache: Redis connected');
  return memory ? new TieredStore(memory, redis) : redis;
}
