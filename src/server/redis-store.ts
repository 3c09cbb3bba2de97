/** The result cache's store in a Redis that the instances share (result-store.ts opens it). */
import { Redis } from 'ioredis';
import type { Logger } from './logger.js';
import { redactedUrl } from './result-cache-config.js';
import type { ResultStore, StoredEntry } from './result-store.js';
import { StoreDown } from './store-down.js';

/** Redis keys of the result cache: one prefix, so that the cache can share a database and be flushed alone. */
export const REDIS_KEY_PREFIX = 'ocr:result:';

/** After a failed command, the next one that may try Redis again; the calls between skip it at once. */
const PROBE_INTERVAL_MS = 1000;
/** Connecting (or reconnecting) takes at most this long before the attempt counts as failed. */
const CONNECT_TIMEOUT_MS = 1000;
/**
 * A read-only replica (READONLY) is left for a new connection at most this often: after a failover
 * it is the old primary, and a new connection to the same name finds the new one; a Redis that is
 * a replica for good is not reconnected to at every store.
 */
const READONLY_RECONNECT_MS = 10_000;
/** How long a start waits for Redis before it serves without it (it connects when Redis comes up). */
export const STARTUP_WAIT_MS = 1000;

class Unavailable extends Error {}

/**
 * Rejects with `what` after `ms`: a bound of our own on every command, beside ioredis's
 * commandTimeout, so that nothing (a reconnect, a pipeline) can hold a call longer.
 */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Unavailable(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/**
 * What to change when Redis refused a command that sets up the connection (AUTH, HELLO, SELECT), or
 * null for any other error: these refusals last until the URL or Redis's settings change.
 */
function setupRefusal(err: Error & { command?: { name?: string } }, db: number): Error | null {
  if (err.name !== 'ReplyError') return null;
  switch (err.command?.name) {
    case 'select':
      return new Error(
        `Redis refused database ${db} (${err.message}): name one it has in the URL, below its 'databases' setting (16 unless set)`,
      );
    case 'auth':
    case 'hello':
      return new Error(
        `Redis refused the URL's credentials (${err.message}): give its password in the URL, redis://:PASSWORD@HOST:PORT, or USER:PASSWORD@ for an ACL user`,
      );
    default:
      return null;
  }
}

/** Node's codes for a server certificate it does not trust. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** What to change when the certificate of a Redis reached by rediss:// is not trusted, or null for any other error. */
function untrustedCertificate(err: Error & { code?: string }): Error | null {
  if (err.code === undefined || !UNTRUSTED_CERTIFICATE.has(err.code)) return null;
  return new Error(
    `Redis's TLS certificate is not trusted (${err.message}): give the server the CA that signed it (NODE_EXTRA_CA_CERTS=FILE in its environment), and a URL host that the certificate names`,
  );
}

/**
 * What to change when a connection was opened but never became one to Redis, or null for any other
 * error. ioredis reports these as bare socket errors ("write ECONNRESET", "connect ETIMEDOUT",
 * "Command timed out"), which name neither the cause nor the fix: a Redis with TLS on resets a plain
 * connection at its first command; a port without TLS never completes a rediss:// handshake; a
 * Redis paused, overloaded, or something else on the port, takes the connection and says nothing.
 * `status`: ioredis's when the error came ('connect': connected, before Redis's first answer).
 */
function setupFailure(err: Error & { code?: string }, tls: boolean, status: string, timeoutMs: number): Error | null {
  if (tls && err.code === 'ETIMEDOUT')
    return new Error(
      `${err.message}: no TLS session with Redis within ${CONNECT_TIMEOUT_MS} ms: its host is unreachable, or that port does not speak TLS (then the URL is redis://, not rediss://)`,
    );
  if (status !== 'connect') return null;
  if (!tls && err.code === 'ECONNRESET')
    return new Error(
      `${err.message}: the connection was reset before Redis answered, as a Redis that takes TLS only does to a plain one: then the URL is rediss://, not redis://`,
    );
  if (err.message === 'Command timed out')
    return new Error(
      `Redis accepted the connection but did not answer its first command within ${timeoutMs} ms (--cache-timeout-ms): it is paused or overloaded, or that port is not Redis`,
    );
  return null;
}

/**
 * A Redis shared by the instances. No command waits for a connection (the offline queue is off) or
 * longer than `timeoutMs`; after a failure, calls skip Redis at once, one probe a second, until a
 * command succeeds or the connection is ready again. The outage is logged once when it starts and
 * once when it ends, not per call.
 */
export class RedisStore implements ResultStore {
  readonly heldBytes = 0;
  private readonly redis: Redis;
  /** When the outage began, and when the next probe may go; null while Redis answers. */
  private down: { since: number; probeAt: number } | null = null;
  /**
   * Redis refused to set up the connection (setupRefusal). After a refused SELECT ioredis goes on,
   * ready, on database 0, where this store must not read or write. Cleared when a new connection is set up.
   */
  private refusedSetup: Error | null = null;
  /** Commands Redis answers with an error (SET at maxmemory under noeviction, on a read-only replica), by name: since when. */
  private readonly refusing = new Map<string, number>();
  /** When the store last left a read-only replica for a new connection; while it reconnects, no outage is logged. */
  private leftReplica: { at: number; reconnecting: boolean } | null = null;
  private readonly where: string;

  constructor(
    url: string,
    private readonly ttlMs: number,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.where = redactedUrl(url);
    this.redis = new Redis(url, {
      // While disconnected a command fails at once, instead of waiting for the connection.
      enableOfflineQueue: false,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: timeoutMs,
      // A command lost with its connection is not sent again: its call has been computed meanwhile.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Reconnect for ever, at most every 2 s: Redis coming back ends the outage by itself.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      // A store refused READONLY after a failover: the name (a managed Redis's primary endpoint)
      // now leads to the new primary, but this connection stays with the old one, which would
      // refuse every store until a restart. The command is not sent again.
      reconnectOnError: (err) => this.leaveReplica(err),
    });
    this.redis.on('connect', () => (this.refusedSetup = null));
    const tls = new URL(url).protocol === 'rediss:';
    this.redis.on('error', (err: Error) => {
      const refusal = setupRefusal(err, this.redis.options.db ?? 0);
      if (refusal) this.refusedSetup = refusal;
      this.failed(refusal ?? untrustedCertificate(err) ?? setupFailure(err, tls, this.redis.status, timeoutMs) ?? err);
    });
    this.redis.on('ready', () => {
      if (this.leftReplica) this.leftReplica.reconnecting = false;
      if (!this.refusedSetup) this.recovered();
    });
  }

  /** Whether ioredis is to reconnect after `err`: a read-only replica's refusal, at most every READONLY_RECONNECT_MS. */
  private leaveReplica(err: Error): boolean {
    const now = Date.now();
    if (!err.message.startsWith('READONLY') || (this.leftReplica && now - this.leftReplica.at < READONLY_RECONNECT_MS)) return false;
    this.leftReplica = { at: now, reconnecting: true };
    return true;
  }

  /** Resolves once connected, or after `ms` (an unreachable Redis is an outage, logged, not a failed start). */
  ready(ms: number): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(!this.refusedSetup);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => done(!this.refusedSetup);
      const timer = setTimeout(() => done(false), ms);
      this.redis.once('ready', onReady);
    });
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    const results = await this.command('get', () =>
      this.redis
        .pipeline()
        .getBuffer(REDIS_KEY_PREFIX + key)
        .pttl(REDIS_KEY_PREFIX + key)
        .exec(),
    );
    const [got, ttl] = results ?? [];
    if (!got || got[0] || !ttl || ttl[0]) throw (got?.[0] ?? ttl?.[0] ?? new Error('Redis answered the pipeline without results')) as Error;
    const value = got[1] as Buffer | null;
    if (!value) return undefined;
    const ttlMs = ttl[1] as number;
    return ttlMs > 0 ? { value, ttlMs } : { value };
  }

  async set(key: string, value: Buffer, ttlMs?: number): Promise<void> {
    await this.command('set', () => this.redis.set(REDIS_KEY_PREFIX + key, value, 'PX', ttlMs ?? this.ttlMs));
  }

  async close(): Promise<void> {
    this.redis.removeAllListeners('ready');
    this.redis.disconnect();
  }

  /** One command, bounded, skipped at once during an outage (but for a probe a second). */
  private async command<T>(what: string, run: () => Promise<T>): Promise<T> {
    const now = Date.now();
    if (this.down) {
      if (now < this.down.probeAt)
        throw new StoreDown(`Redis at ${this.where} is unavailable since ${new Date(this.down.since).toISOString()}`);
      this.down.probeAt = now + PROBE_INTERVAL_MS;
    }
    // Leaving a replica is no outage (ioredis still says 'ready' until the old connection has
    // closed); a reconnection that fails is one, which the 'error' event says.
    if (this.leftReplica?.reconnecting) throw new StoreDown(`Redis at ${this.where} is reconnecting, away from a read-only replica`);
    if (this.redis.status !== 'ready' || this.refusedSetup) {
      const err = new StoreDown(`Redis at ${this.where} is not connected (${this.refusedSetup?.message ?? this.redis.status})`);
      this.failed(err);
      throw err;
    }
    try {
      const result = await within(run(), this.timeoutMs, `Redis ${what}`);
      this.recovered();
      this.accepted(what);
      return result;
    } catch (err) {
      // An error Redis answered is no outage: Redis is up and quick, and its other commands (hits)
      // still serve; skipping it would only end and start an outage, in the log, at every probe.
      if ((err as Error).name === 'ReplyError') this.refused(what, err as Error);
      else this.failed(err as Error);
      throw err;
    }
  }

  private refused(what: string, err: Error): void {
    if (this.refusing.has(what)) return;
    this.refusing.set(what, Date.now());
    this.logger.warn(
      { cache: this.where, command: what, err: err.message },
      'result cache refused by Redis: calls are computed without this command until Redis takes it again',
    );
  }

  private accepted(what: string): void {
    const since = this.refusing.get(what);
    if (since === undefined) return;
    this.refusing.delete(what);
    this.logger.info({ cache: this.where, command: what, refusedMs: Date.now() - since }, 'result cache accepted by Redis again');
  }

  private failed(err: Error): void {
    const now = Date.now();
    if (this.down) return;
    this.down = { since: now, probeAt: now + PROBE_INTERVAL_MS };
    this.logger.warn({ cache: this.where, err: err.message }, 'result cache unavailable: calls are computed without it until it is back');
  }

  private recovered(): void {
    if (!this.down) return;
    this.logger.info({ cache: this.where, downMs: Date.now() - this.down.since }, 'result cache available again');
    this.down = null;
  }
}
