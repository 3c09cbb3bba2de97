import { setMaxListeners } from 'node:events';
import os from 'node:os';
import { OcrError, resourceExhausted } from '../shared/errors.js';
import { decodeImage, DEFAULT_DECODE_LIMITS, plainImageSize, type DecodeLimits, type PlainFormat } from './decode.js';
import { DEFAULT_MANIFEST, loadManifest, readDictionary, type ModelManifest } from './manifest.js';
import { isLineImage } from './line-image.js';
import { DEFAULT_MIN_CONFIDENCE, selectLines } from '../shared/reading-order.js';
import { DEFAULT_ROW_MERGE_GAP, mergeRowNeighbours } from '../shared/row-merge.js';
import { quadSize, wholeImageQuad } from './geometry.js';
import { hasInt8DotProduct } from './cpu-features.js';
import type { OcrLine, OcrResult, Precision, Quad, RawImage, StageTimings } from './types.js';
import { WorkerPool, type TaskResult } from './worker-pool.js';
import { SharedImagePool, type SharedImageLease } from './shared-image-pool.js';
import { MemoryBudget } from './memory-budget.js';
import type { EncodedLineReply, ReplyFor, RecognizedLine, Task } from './worker-protocol.js';

export interface EngineConfig {
  manifestPath: string;
  /** Inference workers; each runs one model call at a time. */
  workers: number;
  /** onnxruntime intra-op threads per worker. */
  threadsPerWorker: number;
  /**
   * Intra-op threads of the detector when no other worker is busy (one otherwise; see
   * DetectorSessions and WorkerConfig.wide). Measured here: 2 cut the median document at
   * concurrency 1 by about 30 ms (the detector no longer runs on one core while the other waits for
   * its boxes). The recognizer's passes are too short to gain from a second thread.
   */
  detectorThreads: number;
  /**
   * Tasks posted ahead to a worker that is busy, so that it starts the next as soon as it is done
   * rather than after a round trip through the main thread (0: none). Measured here with 1, two
   * engines alternating: documents/s at concurrency 4 +2 to +7 % (the main thread spends
   * milliseconds at a time copying decoded pages, while workers wait for their next task); the
   * concurrency-1 median and line images/s unchanged.
   */
  prefetch: number;
  /** Lines per recognizer forward pass. */
  recBatchSize: number;
  /** Load the models through simplifyModel: the same function in fewer element-wise passes. */
  simplifyGraphs: boolean;
  /**
   * The recognizer's matrix products. int8 (quantizeModel) cut a 48×320 pass from 10.5 to 7.9 ms
   * here, and a further 8–9 % once each product's tail ran in NHWC, with every accuracy figure
   * within noise; default where the CPU has VNNI, on which int8 is fast and exact, float32
   * elsewhere. The detector gained nothing from int8 (its time is in 3×3 convolutions) and stays
   * float32, as does the small angle classifier.
   */
  recPrecision: Precision;
  /** Boxes in one row closer than this many line heights are read as one line (0: never). */
  rowMergeGap: number;
  decodeLimits: DecodeLimits;
  /** Requests admitted beyond those running; more are refused with RESOURCE_EXHAUSTED. */
  maxQueuedRequests: number;
  /** What admitted work may hold in memory at once: decoded pixels, detector activations, tile canvases. */
  memoryBudgetBytes: number;
  defaults: Required<Omit<RecognizeOptions, 'signal'>>;
}

export interface RecognizeOptions {
  /** Longest side of the image as the detector sees it. */
  maxSideLen?: number;
  /** Shorter side small images are scaled up to before detection. */
  minSideLen?: number;
  /** Detector box score below which a region is not text. */
  boxThreshold?: number;
  unclipRatio?: number;
  /** Turn upside-down lines before reading them. */
  useAngleCls?: boolean;
  /** Lines read with lower confidence are left out. */
  minConfidence?: number;
  signal?: AbortSignal;
}

export interface LineText {
  text: string;
  confidence: number;
}

export type LineOutcome = { ok: true; line: LineText; timings: StageTimings } | { ok: false; error: OcrError };

export interface EngineInfo {
  manifest: string;
  models: { role: 'det' | 'cls' | 'rec'; file: string; version: string; precision: Precision }[];
  dictionarySize: number;
  workers: number;
  threadsPerWorker: number;
  limits: { maxPixels: number; minSide: number; maxQueuedRequests: number };
}

/** Defaults for this machine; detection thresholds are the manifest's, as its model was tuned with them. */
export function defaultEngineConfig(manifestPath: string, manifest: ModelManifest): EngineConfig {
  const cores = Math.max(1, os.availableParallelism());
  return {
    manifestPath,
    workers: cores,
    threadsPerWorker: 1,
    detectorThreads: Math.min(2, cores),
    // Measured here: a batch shares one (padded) width; it saves ~1 ms of fixed cost per pass (4 ×
    // 320 px: 9.6 against 10.2 ms per line), but a document's crops seldom share a width, and
    // batching them within 10 % of each other gained nothing (2.69 / 2.67 / 2.60 documents/s for
    // batches of 1 / 4 / 8). Lines are read one per pass at their exact width.
    recBatchSize: 1,
    prefetch: 1,
    simplifyGraphs: true,
    recPrecision: hasInt8DotProduct() ? 'int8' : 'float32',
    rowMergeGap: DEFAULT_ROW_MERGE_GAP,
    decodeLimits: DEFAULT_DECODE_LIMITS,
    maxQueuedRequests: 64,
    memoryBudgetBytes: defaultMemoryBudget(os.totalmem()),
    defaults: {
      maxSideLen: 960,
      minSideLen: 0,
      boxThreshold: manifest.det.db.boxThresh,
      unclipRatio: manifest.det.db.unclipRatio,
      useAngleCls: false,
      minConfidence: DEFAULT_MIN_CONFIDENCE,
    },
  };
}

/**
 * An eighth of the machine's memory, at most 1 GiB: beside the models and arenas (about 1.1 GiB on
 * two workers) it keeps a burst of hostile calls within 1.5 GB of the idle footprint.
 */
export function defaultMemoryBudget(totalBytes: number): number {
  return Math.min(1024 * 1024 * 1024, Math.floor(totalBytes / 8));
}

const emptyTimings = (): StageTimings => ({ queueMs: 0, decodeMs: 0, detectMs: 0, classifyMs: 0, recognizeMs: 0, totalMs: 0 });

/** Decoded images kept for reuse between requests: a few A4 scans at 300 dpi (26 MB each). */
const IDLE_SHARED_IMAGE_BYTES = 128 * 1024 * 1024;

/** A line read, with its stage timings; the total is their sum. */
function lineOutcome(line: RecognizedLine, t: Pick<StageTimings, 'decodeMs' | 'queueMs' | 'classifyMs' | 'recognizeMs'>): LineOutcome {
  const timings = { ...emptyTimings(), ...t, totalMs: t.decodeMs + t.queueMs + t.classifyMs + t.recognizeMs };
  return { ok: true, line: { text: line.text, confidence: line.confidence }, timings };
}

/**
 * The OCR pipeline, usable without gRPC: decode → detect → crop → classify → recognize.
 * Model calls run on a pool of worker threads; this object only orchestrates.
 */
export class OcrEngine {
  private arrivals = 0;
  private active = 0;
  private readonly sharedImages = new SharedImagePool(IDLE_SHARED_IMAGE_BYTES);
  /** Shared by every request and tile stream of this engine. */
  readonly budget: MemoryBudget;

  private constructor(
    readonly config: EngineConfig,
    readonly manifest: ModelManifest,
    private readonly pool: WorkerPool,
    private readonly dictionarySize: number,
  ) {
    this.budget = new MemoryBudget(config.memoryBudgetBytes);
  }

  static async create(overrides: Partial<EngineConfig> = {}): Promise<OcrEngine> {
    const manifestPath = overrides.manifestPath ?? DEFAULT_MANIFEST;
    const manifest = loadManifest(manifestPath);
    const base = defaultEngineConfig(manifestPath, manifest);
    const config: EngineConfig = { ...base, ...overrides, defaults: { ...base.defaults, ...overrides.defaults } };
    const dictionarySize = readDictionary(manifest).length;
    const pool = await WorkerPool.start(config.workers, {
      manifestPath: config.manifestPath,
      threads: config.threadsPerWorker,
      detectorThreads: config.detectorThreads,
      recBatchSize: config.recBatchSize,
      simplifyGraphs: config.simplifyGraphs,
      recPrecision: config.recPrecision,
      detArenaPixels: config.defaults.maxSideLen ** 2,
    }, { depth: 1 + config.prefetch });
    return new OcrEngine(config, manifest, pool, dictionarySize);
  }

  info(): EngineInfo {
    const m = this.manifest;
    const models: EngineInfo['models'] = [{ role: 'det', file: m.det.file, version: m.det.version, precision: 'float32' }];
    if (m.cls) models.push({ role: 'cls', file: m.cls.file, version: m.cls.version, precision: 'float32' });
    models.push({ role: 'rec', file: m.rec.file, version: m.rec.version, precision: this.config.recPrecision });
    return {
      manifest: m.name,
      models,
      dictionarySize: this.dictionarySize,
      workers: this.pool.size,
      threadsPerWorker: this.config.threadsPerWorker,
      limits: { ...this.config.decodeLimits, maxQueuedRequests: this.config.maxQueuedRequests },
    };
  }

  /** Drop empty and unsure readings, put the rest in reading order. */
  finalize(lines: OcrLine[], options: RecognizeOptions = {}): OcrLine[] {
    return selectLines(lines, options.minConfidence ?? this.config.defaults.minConfidence);
  }

  /** Requests admitted and not yet finished. */
  get inFlight(): number {
    return this.active;
  }

  get queuedTasks(): number {
    return this.pool.queued;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Whole pipeline on one encoded image. */
  async recognize(encoded: Uint8Array, options: RecognizeOptions = {}): Promise<OcrResult> {
    return this.admit(async (priority) => {
      const started = performance.now();
      const { image } = await decodeImage(encoded, this.config.decodeLimits);
      const decodeMs = performance.now() - started;
      const result = await this.pipeline(image, options, priority);
      result.timings.decodeMs = decodeMs;
      result.timings.totalMs = performance.now() - started;
      return result;
    }, options.signal);
  }

  /** Whole pipeline on pixels already decoded (a tile of a larger image). */
  async recognizeImage(image: RawImage, options: RecognizeOptions = {}): Promise<OcrResult> {
    return this.admit(async (priority) => {
      const started = performance.now();
      const result = await this.pipeline(image, options, priority);
      result.timings.totalMs = performance.now() - started;
      return result;
    }, options.signal);
  }

  /** Read given regions of an image (no detection): lines re-read whole across tile borders. */
  async recognizeRegions(image: RawImage, quads: Quad[], options: RecognizeOptions = {}): Promise<OcrLine[]> {
    if (quads.length === 0) return [];
    return this.admit(async (priority) => {
      const read = await this.withShared(image, (shared) => this.readQuads(shared, quads, options, priority, false));
      return quads.map((box, i) => ({ box, text: read.lines[i]!.text, confidence: read.lines[i]!.confidence }));
    }, options.signal);
  }

  /**
   * Recognizer only, one text line per image. A bad image fails alone: its outcome carries the
   * error and the others are read.
   */
  async recognizeLines(images: Uint8Array[], options: RecognizeOptions = {}): Promise<LineOutcome[]> {
    return this.admit(
      (priority) =>
        // Each line goes to the workers as soon as it is decoded, not once the whole call is, so the
        // workers start on a call after one decode, not thirty: measured over 24 alternating
        // passes of the benchmark's RecognizeLines load, median 127.4 → 130.4 line images/s.
        Promise.all(images.map((buf) => this.readLine(buf, options, priority))),
      options.signal,
    );
  }

  /** One line image. An image that cannot be decoded fails alone; any other error fails the call. */
  private async readLine(buf: Uint8Array, options: RecognizeOptions, priority: number): Promise<LineOutcome> {
    const started = performance.now();
    // A plain PNG or JPEG is decoded by the worker that reads it; any other image here, by sharp.
    let image: RawImage | PlainFormat;
    try {
      image = plainImageSize(buf, this.config.decodeLimits)?.format ?? (await decodeImage(buf, this.config.decodeLimits)).image;
    } catch (err) {
      return { ok: false, error: err instanceof OcrError ? err : new OcrError('INTERNAL', String(err)) };
    }
    if (typeof image === 'string') return this.readEncodedLine(buf, image, options, priority);
    const decodeMs = performance.now() - started;
    const whole = [wholeImageQuad(image.width, image.height)];
    const read = await this.withShared(image, (shared) => this.readQuads(shared, whole, options, priority, true));
    return lineOutcome(read.lines[0]!, { decodeMs, queueMs: read.waitMs, classifyMs: read.classifyMs, recognizeMs: read.recognizeMs });
  }

  /**
   * A plain PNG or JPEG line image (plainImageSize), decoded in a worker rather than by sharp: for
   * images this small sharp's fixed cost is most of the decode, and the main thread is spared the
   * pixels. A corrupt image fails alone, as with decodeImage.
   */
  private async readEncodedLine(buf: Uint8Array, format: PlainFormat, options: RecognizeOptions, priority: number): Promise<LineOutcome> {
    const useAngleCls = options.useAngleCls ?? this.config.defaults.useAngleCls;
    let read: TaskResult<EncodedLineReply>;
    try {
      read = await this.pool.run({ kind: 'encodedLine', format, bytes: new Uint8Array(buf), useAngleCls }, priority, options.signal);
    } catch (err) {
      if (err instanceof OcrError && err.code === 'INVALID_ARGUMENT') return { ok: false, error: err };
      throw err;
    }
    const { lines, decodeMs, classifyMs, recognizeMs } = read.reply;
    return lineOutcome(lines[0]!, { decodeMs, queueMs: read.waitMs, classifyMs, recognizeMs });
  }

  private async admit<T>(work: (priority: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    // Each queued model call of the request listens on its signal: dozens for a long page.
    if (signal) setMaxListeners(0, signal);
    const running = this.pool.size;
    if (this.active >= running + this.config.maxQueuedRequests) {
      throw resourceExhausted(
        `server busy: ${this.active} requests in progress, queue limit ${this.config.maxQueuedRequests}; ` +
          'retry with backoff or send to another instance',
      );
    }
    this.active++;
    try {
      return await work(this.arrivals++);
    } finally {
      this.active--;
    }
  }

  /** Run `use` with the image in pooled shared memory, which its worker tasks hold until they finish. */
  private async withShared<T>(image: RawImage, use: (shared: SharedImageLease) => Promise<T>): Promise<T> {
    const lease = this.sharedImages.share(image);
    try {
      return await use(lease);
    } finally {
      lease.release();
    }
  }

  /** A worker task that reads a pooled image: the image stays out of the pool until the task is over. */
  private runOn<T extends Task>(lease: SharedImageLease, task: T, priority: number, signal?: AbortSignal): Promise<TaskResult<ReplyFor<T>>> {
    const done = lease.hold();
    return this.pool.run(task, priority, signal).finally(done);
  }

  private pipeline(image: RawImage, options: RecognizeOptions, priority: number): Promise<OcrResult> {
    return this.withShared(image, (shared) => this.detectAndRead(image, shared, options, priority));
  }

  private async detectAndRead(image: RawImage, shared: SharedImageLease, options: RecognizeOptions, priority: number): Promise<OcrResult> {
    const d = this.config.defaults;
    const det = await this.runOn(
      shared,
      {
        kind: 'detect',
        image: shared.image,
        options: {
          maxSideLen: options.maxSideLen ?? d.maxSideLen,
          minSideLen: options.minSideLen ?? d.minSideLen,
          db: { ...this.manifest.det.db, boxThresh: options.boxThreshold ?? d.boxThreshold, unclipRatio: options.unclipRatio ?? d.unclipRatio },
        },
      },
      priority,
      options.signal,
    );
    const detected = mergeRowNeighbours(det.reply.boxes.map((b) => b.quad), this.config.rowMergeGap);
    const wholeLine = isLineImage(image.width, image.height, detected);
    const quads = wholeLine ? [wholeImageQuad(image.width, image.height)] : detected;
    const read = await this.readQuads(shared, quads, options, priority, wholeLine);
    const lines = quads.map((box, i) => ({ text: read.lines[i]!.text, confidence: read.lines[i]!.confidence, box }));
    return {
      width: image.width,
      height: image.height,
      lines: this.finalize(lines, options),
      timings: {
        ...emptyTimings(),
        queueMs: det.waitMs + read.waitMs,
        detectMs: det.elapsedMs,
        classifyMs: read.classifyMs,
        recognizeMs: read.recognizeMs,
      },
    };
  }

  /**
   * Split the regions over the workers, lines of similar aspect together, and read them. The
   * longest lines go first, so that the last tasks to finish are short ones and the workers end
   * together (longest-processing-time-first scheduling).
   */
  private async readQuads(
    image: SharedImageLease,
    quads: Quad[],
    options: RecognizeOptions,
    priority: number,
    wholeLines: boolean,
  ): Promise<{ lines: RecognizedLine[]; waitMs: number; classifyMs: number; recognizeMs: number }> {
    const useAngleCls = options.useAngleCls ?? this.config.defaults.useAngleCls;
    const aspect = quads.map((q) => {
      const s = quadSize(q);
      return s.width / Math.max(1, s.height);
    });
    const order = quads.map((_, i) => i).sort((a, b) => aspect[b]! - aspect[a]!);
    const chunkSize = Math.max(1, Math.min(2 * this.config.recBatchSize, Math.ceil(order.length / this.pool.size)));
    const chunks: number[][] = [];
    for (let i = 0; i < order.length; i += chunkSize) chunks.push(order.slice(i, i + chunkSize));
    const lines = new Array<RecognizedLine>(quads.length);
    const started = performance.now();
    let firstStart = Infinity;
    // Chunks run side by side: the phase takes as long as its slowest chunk's classification.
    let classifyMs = 0;
    await Promise.all(
      chunks.map(async (chunk) => {
        const r = await this.runOn(
          image,
          { kind: 'recognize', image: image.image, quads: chunk.map((i) => quads[i]!), useAngleCls, wholeLines },
          priority,
          options.signal,
        );
        firstStart = Math.min(firstStart, started + r.waitMs);
        classifyMs = Math.max(classifyMs, r.reply.classifyMs);
        r.reply.lines.forEach((line, k) => (lines[chunk[k]!] = line));
      }),
    );
    const ended = performance.now();
    const begun = Number.isFinite(firstStart) ? firstStart : started;
    return { lines, waitMs: begun - started, classifyMs, recognizeMs: Math.max(0, ended - begun - classifyMs) };
  }
}
