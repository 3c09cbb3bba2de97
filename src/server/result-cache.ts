/**
 * The result cache: an image sent again (the same scan submitted twice, a retry after a lost
 * answer) is answered from what was read the first time instead of being recognised again.
 *
 * Key: SHA-256 over what decides the answer: the engine's identity (its models, their versions and
 * the recognizer's precision, the bytes its workers run, the manifest's pre- and post-processing,
 * the server version), the options as the engine resolves them (unset ones filled with its
 * defaults, so that unset and the default sent explicitly are one entry) and the image bytes. Value: the answer's lines, width and
 * height as JSON (JSON keeps the doubles of an HTTP answer as they were; protobuf would round them
 * to float). A hit answers with this instance's id and timings of the lookup alone.
 *
 * It wraps the Recognize handler, which gRPC and the HTTP API share. Only answers are stored,
 * never errors. RecognizeLines is not cached: a line image is read in about 10 ms, of the order of
 * a lookup in Redis per image, and a batch would need one key per image and partial hits.
 * RecognizeTiles neither: a stream's tiles are parts of one image that is seldom sent whole twice.
 *
 * A cache that fails never fails a call: the store's error is counted (result="error") and the call
 * is computed as if there were no cache; RedisStore logs the outage once.
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Line, Point, RecognizeOptions, RecognizeRequest, RecognizeResponse } from '../gen/ocr/v1/ocr.js';
import { runModelKeys, zeroTimings, type EngineConfig, type EngineInfo, type OcrEngine } from '../engine/index.js';
import type { ServiceContext } from './call-context.js';
import type { CallInfo } from './call-handler.js';
import { fromOptions, toTimings } from './convert.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';
import type { OcrHandlers } from './ocr-handlers.js';
import type { ResultCacheConfig } from './result-cache-config.js';
import { openResultStore, type ResultStore } from './result-store.js';
import { StoreDown } from './store-down.js';
import { SharedFlights } from './shared-flights.js';

/**
 * Bumped whenever what a key covers, a value's layout or the reading of the same image by the same
 * models changes (3: no spaces at a line's ends; 4: a small page, or a line under use_angle_cls,
 * turned only where the recognizer agrees; 5: the bytes the models run), so that old entries are never read.
 */
const CACHE_FORMAT = 5;

/** The options of a page as the engine reads it: every field set. */
export type ResolvedOptions = EngineConfig['defaults'];

/**
 * `options` with the engine's defaults filled in. Fractions are taken at float32 precision: that
 * is all the wire carries of them (an explicit 0.6 arrives as 0.6000000238), so the default sent
 * explicitly over gRPC, over HTTP and left unset are one entry.
 */
export function resolveOptions(options: RecognizeOptions | undefined, defaults: ResolvedOptions): ResolvedOptions {
  const o = options ?? {};
  return {
    maxSideLen: o.maxSideLen ?? defaults.maxSideLen,
    minSideLen: o.minSideLen ?? defaults.minSideLen,
    boxThreshold: Math.fround(o.boxThreshold ?? defaults.boxThreshold),
    unclipRatio: Math.fround(o.unclipRatio ?? defaults.unclipRatio),
    useAngleCls: o.useAngleCls ?? defaults.useAngleCls,
    minConfidence: Math.fround(o.minConfidence ?? defaults.minConfidence),
    autoRotate: o.autoRotate ?? defaults.autoRotate,
  };
}

/** What, besides the image and options, decides an answer. */
export interface EngineIdentity {
  serverVersion: string;
  /** Model files, versions and precisions (engine.info().models). */
  models: EngineInfo['models'];
  /** What the workers run: each model's bytes and rewrite, and the dictionary's bytes (runModelKeys). */
  runs: Record<string, string>;
  manifest: string;
  dictionarySize: number;
  /** The manifest's per-model settings (normalisation, sizes, DB post-processing, classifier threshold). */
  specs: unknown;
  rowMergeGap: number;
}

export function engineIdentity(engine: Pick<OcrEngine, 'info' | 'manifest' | 'config'>, serverVersion: string): EngineIdentity {
  const info = engine.info();
  const { det, cls, rec } = engine.manifest;
  return {
    serverVersion,
    models: info.models.map(({ role, file, version, precision }) => ({ role, file, version, precision })),
    runs: runModelKeys(engine.manifest, {
      simplify: engine.config.simplifyGraphs,
      recPrecision: engine.config.recPrecision,
      cacheDir: engine.config.modelCacheDir,
    }),
    manifest: info.manifest,
    dictionarySize: info.dictionarySize,
    specs: { det, cls, rec },
    rowMergeGap: engine.config.rowMergeGap,
  };
}

/**
 * Bytes hashed between two turns of the event loop. SHA-256 runs at about 1.5 GB/s here: a 32 MiB
 * image (the largest message) would hold the main thread for 22 ms in one piece, health checks and
 * other calls included; in slices of 1 MiB it holds it for under a millisecond at a time, and an
 * image of 1 MiB or less (most scans) is hashed at once.
 */
const HASH_SLICE_BYTES = 1 << 20;

/** The cache key of one page: hex SHA-256 of the identity, the resolved options (in a fixed order) and the image bytes. */
export async function resultKey(image: Uint8Array, options: ResolvedOptions, identity: EngineIdentity | string): Promise<string> {
  const id = typeof identity === 'string' ? identity : JSON.stringify(identity);
  const o = options;
  const opts = JSON.stringify([o.maxSideLen, o.minSideLen, o.boxThreshold, o.unclipRatio, o.useAngleCls, o.minConfidence, o.autoRotate]);
  const hash = createHash('sha256').update(`ocr-result/${CACHE_FORMAT}\n${id}\n${opts}\n`);
  for (let at = 0; at < image.length; at += HASH_SLICE_BYTES) {
    if (at > 0) await yieldToLoop();
    hash.update(image.subarray(at, at + HASH_SLICE_BYTES));
  }
  return hash.digest('hex');
}

/** What is kept of an answer. */
export interface CachedPage {
  lines: Line[];
  width: number;
  height: number;
  rotation: number;
}

export function encodePage(page: CachedPage): Buffer {
  return Buffer.from(JSON.stringify({ lines: page.lines, width: page.width, height: page.height, rotation: page.rotation }));
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isUint32 = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;

/** A line as the engine writes one: text, a confidence in 0..1, four corners. */
function isLine(v: unknown): v is Line {
  if (typeof v !== 'object' || v === null) return false;
  const { text, confidence, box } = v as Partial<Record<keyof Line, unknown>>;
  return (
    typeof text === 'string' &&
    isFiniteNumber(confidence) &&
    confidence >= 0 &&
    confidence <= 1 &&
    Array.isArray(box) &&
    box.length === 4 &&
    box.every((p: unknown) => typeof p === 'object' && p !== null && isFiniteNumber((p as Point).x) && isFiniteNumber((p as Point).y))
  );
}

/**
 * Throws on what is no page (a foreign or damaged value under our key), down to each line: a value
 * served as it is must be one the engine could have written, or it would fail the call or answer
 * with nonsense.
 */
export function decodePage(value: Buffer): CachedPage {
  const parsed = JSON.parse(value.toString('utf8')) as Partial<Record<keyof CachedPage, unknown>> | null;
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !Array.isArray(parsed.lines) ||
    !parsed.lines.every(isLine) ||
    !isUint32(parsed.width) ||
    !isUint32(parsed.height) ||
    ![0, 90, 180, 270].includes(parsed.rotation as number)
  ) {
    throw new Error('the cached value is not a page');
  }
  return { lines: parsed.lines, width: parsed.width, height: parsed.height, rotation: parsed.rotation as number };
}

/** The store, with its outcomes counted and its failures turned into misses. */
export class ResultCache {
  constructor(
    private readonly store: ResultStore,
    private readonly metrics: ServerMetrics,
    private readonly logger: Logger,
  ) {
    metrics.cacheBytes.set(0);
    for (const result of ['hit', 'miss', 'error']) metrics.cacheRequests.inc({ result }, 0);
  }

  /**
   * The page under `key`, or undefined (a miss, or a store that failed: the caller computes it).
   * A page that `usable` turns down is a miss. Never rejects.
   */
  async get(key: string, usable: (page: CachedPage) => boolean = () => true): Promise<CachedPage | undefined> {
    let entry;
    try {
      entry = await this.store.get(key);
    } catch {
      // The store logs its outage once (RedisStore); a log line per call would flood the log.
      this.metrics.cacheRequests.inc({ result: 'error' });
      return undefined;
    }
    if (!entry) {
      this.metrics.cacheRequests.inc({ result: 'miss' });
      return undefined;
    }
    // A hit from Redis was copied into memory.
    this.metrics.cacheBytes.set(this.store.heldBytes);
    try {
      const page = decodePage(entry.value);
      const hit = usable(page);
      this.metrics.cacheRequests.inc({ result: hit ? 'hit' : 'miss' });
      return hit ? page : undefined;
    } catch (err) {
      this.logger.warn({ key, err: (err as Error).message }, 'result cache: unreadable entry, computing the call');
      this.metrics.cacheRequests.inc({ result: 'error' });
      return undefined;
    }
  }

  /** Counts a call answered by an identical one's lookup or computation (shared-flights.ts): computed once, for it too. */
  countSharedHit(): void {
    this.metrics.cacheRequests.inc({ result: 'hit' });
  }

  /**
   * Stores `page` under `key`; a store that fails is counted (result="error": a Redis that has
   * stopped storing, at maxmemory under noeviction, still answers its lookups) and otherwise
   * ignored (logged by the store). Never rejects.
   */
  async put(key: string, page: CachedPage): Promise<void> {
    try {
      await this.store.set(key, encodePage(page));
    } catch (err) {
      if (!(err instanceof StoreDown)) this.metrics.cacheRequests.inc({ result: 'error' });
    } finally {
      this.metrics.cacheBytes.set(this.store.heldBytes);
    }
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/** The cache `config` asks for, or null when it is off. Never fails for an unreachable Redis (logged; connected to later). */
export async function openResultCache(config: ResultCacheConfig, metrics: ServerMetrics, logger: Logger): Promise<ResultCache | null> {
  const store = await openResultStore(config, logger);
  return store && new ResultCache(store, metrics, logger);
}

/** A page answered without reading it for this call: this instance's id, the call's own time, marked cached. */
function cachedAnswer(page: CachedPage, instanceId: string, started: number): RecognizeResponse {
  const { lines, width, height, rotation } = page;
  const timings = toTimings({ ...zeroTimings(), totalMs: performance.now() - started });
  return { lines, width, height, rotation, instanceId, timings, cached: true };
}

/**
 * Whether an engine with `limits` reads an image of the page's size (decode.ts's checkSize): a
 * Redis shared with instances of a larger --max-pixels holds pages this one refuses, and its hits
 * must not answer them.
 */
export function withinLimits(page: CachedPage, limits: Pick<EngineInfo['limits'], 'maxPixels' | 'minSide'>): boolean {
  return page.width * page.height <= limits.maxPixels && page.width >= limits.minSide && page.height >= limits.minSide;
}

/** What the call that leads a flight got: a page from the cache, or the answer it computed. */
type Lookup = { page: CachedPage; computed?: RecognizeResponse };

/**
 * `handlers` with Recognize answered from `cache` when it can: a miss is computed by the handler
 * and its answer stored before it is returned (so that the next call, on any instance sharing the
 * store, finds it). Identical calls of one priority in flight at once share one lookup and
 * computation (shared-flights.ts); those that waited are answered as hits.
 */
export function withResultCache(handlers: OcrHandlers, cache: ResultCache, ctx: ServiceContext): OcrHandlers {
  const identity = JSON.stringify(engineIdentity(ctx.engine, ctx.serverVersion));
  const defaults = ctx.engine.config.defaults;
  const flights = new SharedFlights<Lookup>();
  const limits = ctx.engine.info().limits;
  const lookup = async (key: string, request: RecognizeRequest, info: CallInfo): Promise<Lookup> => {
    // A page this engine would refuse is computed, that is refused with the engine's own message.
    const page = await cache.get(key, (p) => withinLimits(p, limits));
    if (page) return { page };
    const computed = await handlers.recognize(request, info);
    await cache.put(key, computed);
    return { page: computed, computed };
  };
  const recognize: OcrHandlers['recognize'] = async (request, info) => {
    const started = performance.now();
    // Refused options are refused before any lookup, with the handler's own message.
    fromOptions(request.options, info.signal);
    const key = await resultKey(request.image, resolveOptions(request.options, defaults), identity);
    // Calls share a reading only with calls of their priority: an interactive one never waits in a
    // batch one's place in the queue.
    const flight = `${info.priority ?? 'interactive'}:${key}`;
    const { value, shared } = await flights.run(flight, info.signal, () => lookup(key, request, info));
    if (value.computed && !shared) return value.computed;
    if (shared) cache.countSharedHit();
    ctx.metrics.lines.inc(value.page.lines.length);
    return cachedAnswer(value.page, ctx.instanceId, started);
  };
  return { ...handlers, recognize };
}
