import { setMaxListeners } from 'node:events';
import { machineCores, machineMemoryBytes } from '../shared/machine-resources.js';
import { invalidArgument, OcrError } from '../shared/errors.js';
import {
  DEFAULT_DECODE_LIMITS,
  plainImageSize,
  probeImage,
  type DecodeLimits,
  type ImageProbe,
  type PlainFormat,
} from './decode/decode.js';
import { SharpInput, sharpInputOf } from './decode/sharp-input.js';
import { Admission, type CallCost, type CallPriority, type CallTicket } from './admission/admission.js';
import { detectorInputSize } from './detect/input-size.js';
import { DEFAULT_MANIFEST, loadManifest, readDictionary, type ModelManifest } from './runtime/manifest.js';
import { DEFAULT_MIN_CONFIDENCE } from '../shared/reading-order.js';
import { DEFAULT_ROW_MERGE_GAP } from '../shared/row-merge.js';
import { quadSize, wholeImageQuad } from './detect/geometry.js';
import { hasInt8DotProduct } from './runtime/cpu-features.js';
import { defaultModelCacheDir, prepareEngineModels } from './runtime/model-cache.js';
import { zeroTimings, type OcrLine, type OcrResult, type Precision, type Quad, type RawImage, type StageTimings } from './types.js';
import {
  DEFAULT_OVERRUN_MS,
  DEFAULT_TASK_CAP_MS,
  WorkerPool,
  type PoolClosed,
  type RunOptions,
  type TaskResult,
} from './runtime/worker-pool.js';
import { SharedBufferThread } from './runtime/shared-buffer-thread.js';
import { bytesOf, SharedImagePool, type SharedImageLease } from './runtime/shared-image-pool.js';
import { MainThreadTurns } from './runtime/main-thread-turns.js';
import { defaultMemoryBudget, defaultWorkerCount, MemoryBudget } from './admission/memory-budget.js';
import type { EncodedLineReply, ReadLinesTask, ReplyFor, Task } from './runtime/worker-protocol.js';
import { orderLines, readPage, type LineRead, type LinesRead, type PageSettings } from './pipeline.js';

export interface EngineConfig {
  manifestPath: string;
  /** Inference workers; each runs one model call at a time. */
  workers: number;
  /** onnxruntime intra-op threads per worker. */
  threadsPerWorker: number;
  /**
   * Intra-op threads of the detector when no other worker is busy (one otherwise; see
   * DetectorSessions and WorkerConfig.wide). A second thread shortens a document at concurrency 1:
   * the detector no longer runs on one core while the other waits for its boxes
   * (docs/BENCHMARKS.md, "Engine configurations"). The recognizer's passes are too short to gain
   * from a second thread.
   */
  detectorThreads: number;
  /**
   * Tasks posted ahead to a worker that is busy, so that it starts the next as soon as it is done
   * rather than after a round trip through the main thread (0: none). With 1, documents/s at
   * concurrency 4 rose: without it a worker waits for its next task while the main thread is busy
   * with other calls. The concurrency-1 median and line images/s did not change.
   */
  prefetch: number;
  /** Lines per recognizer forward pass. */
  recBatchSize: number;
  /** Load the models through simplifyModel: the same function in fewer element-wise passes. */
  simplifyGraphs: boolean;
  /**
   * The recognizer's matrix products. int8 (quantizeModel) shortens every pass, and more so once
   * each product's tail runs in NHWC, with every accuracy figure within noise of float
   * (docs/BENCHMARKS.md, "Tried and kept"); default where the CPU has VNNI, on which int8 is fast
   * and exact, float32 elsewhere. The detector gained nothing from int8 (its time is in 3×3
   * convolutions) and stays float32, as does the small angle classifier.
   */
  recPrecision: Precision;
  /**
   * Where the models, rewritten as simplifyGraphs and recPrecision ask, are kept between starts
   * (model-cache.ts); null: rewritten in memory at every start.
   */
  modelCacheDir: string | null;
  /** Boxes in one row closer than this many line heights are read as one line (0: never). */
  rowMergeGap: number;
  decodeLimits: DecodeLimits;
  /** What admitted work may hold in memory at once: decoded pixels, detector activations, tile canvases. */
  memoryBudgetBytes: number;
  /** Calls without a deadline are refused when their estimated wait is longer than this. */
  maxWaitMs: number;
  /** A model task runs at most this long past its call's deadline or cancellation before its worker is replaced. */
  overrunMs: number;
  /** No model task runs longer than this. */
  taskCapMs: number;
  defaults: Required<Omit<RecognizeOptions, 'signal' | 'deadline' | 'priority'>>;
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
  /**
   * Find how the page is turned in the image (0, 90, 180 or 270°) and read it upright: the answer's
   * `rotation`. Costs upright pages one classifier pass over a few lines.
   */
  autoRotate?: boolean;
  /** Lines read with lower confidence are left out. */
  minConfidence?: number;
  signal?: AbortSignal;
  /** Date.now() milliseconds by which the answer is useless: admission refuses what cannot make it. */
  deadline?: number;
  /** Batch calls are refused first and wait behind interactive ones. */
  priority?: CallPriority;
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
  limits: { maxPixels: number; minSide: number; memoryBudgetBytes: number; maxWaitMs: number };
}

/** Defaults for this machine; detection thresholds are the manifest's, as its model was tuned with them. */
export function defaultEngineConfig(manifestPath: string, manifest: ModelManifest): EngineConfig {
  const cores = machineCores();
  const workers = defaultWorkerCount(cores, machineMemoryBytes());
  return {
    manifestPath,
    workers,
    threadsPerWorker: 1,
    detectorThreads: Math.min(2, cores),
    // A batch shares one (padded) width: it saves a pass's fixed cost, but a document's crops
    // seldom share a width, and batching those within 10 % of each other gained nothing
    // (docs/BENCHMARKS.md, "Tried and rejected"). Lines are read one per pass at their exact width.
    recBatchSize: 1,
    prefetch: 1,
    simplifyGraphs: true,
    recPrecision: hasInt8DotProduct() ? 'int8' : 'float32',
    modelCacheDir: defaultModelCacheDir(),
    rowMergeGap: DEFAULT_ROW_MERGE_GAP,
    decodeLimits: DEFAULT_DECODE_LIMITS,
    memoryBudgetBytes: defaultMemoryBudget(machineMemoryBytes(), workers),
    maxWaitMs: 30_000,
    overrunMs: DEFAULT_OVERRUN_MS,
    taskCapMs: DEFAULT_TASK_CAP_MS,
    defaults: {
      maxSideLen: 960,
      // Small pictures' small print (a 323 × 430 poster's 9-px labels) is found at 1.6×; line and
      // word images are never scaled up (detectorInputSize).
      minSideLen: 512,
      boxThreshold: manifest.det.db.boxThresh,
      unclipRatio: manifest.det.db.unclipRatio,
      useAngleCls: false,
      autoRotate: true,
      minConfidence: DEFAULT_MIN_CONFIDENCE,
    },
  };
}

/** The part of a call's remaining deadline that admission lets its estimated wait and work fill: estimates err. */
const DEADLINE_SHARE = 0.8;

const asOcrError = (err: unknown): OcrError => (err instanceof OcrError ? err : new OcrError('INTERNAL', String(err)));

/** Decoded images kept for reuse between requests: a few A4 scans at 300 dpi (26 MB each). */
const IDLE_SHARED_IMAGE_BYTES = 128 * 1024 * 1024;

/**
 * Memory a detector pixel costs beyond the decoded image: the resized RGB, the float input tensor,
 * the probability map and the post-processing bitmaps. Inputs beyond the arena's size run on a
 * session without one, whose activations cost several times that: the unbounded figure is their
 * measured cost with some room (docs/BENCHMARKS.md, "Memory under load").
 */
const DETECTOR_BYTES_PER_PIXEL = 24;
const UNBOUNDED_DETECTOR_BYTES_PER_PIXEL = 150;
/**
 * Bytes a decoded pixel costs while its image is decoded: sharp's decoder buffers, its RGB output
 * and the shared copy; what a large WebP was measured to hold resident while it decoded, rounded up
 * (docs/BENCHMARKS.md, "Memory under load").
 */
const DECODED_BYTES_PER_PIXEL = 12;
/**
 * What an admitted call holds of an image's file while it runs: the file, the text-free copy its
 * probe made, and the copy posted to a worker. The decode's allowance (DECODED_BYTES_PER_PIXEL)
 * covers them for any image whose file is not far larger than its pixels; a PNG padded with
 * chunks (28 MB for 64×64 pixels) cost next to nothing, so that a hundred of them at once were all
 * admitted, and held the server 2.3 GB above its level.
 */
function encodedCopiesBytes(input: SharpInput): number {
  return input.heldBytes + input.bytes.length;
}

/** A line's crops, tensors and outputs. */
const LINE_BYTES = 1024 * 1024;
/**
 * A line image's work is about one line's recognition (a unit), plus its decode: a decoded
 * megapixel counts as the lines whose recognition takes as long (docs/BENCHMARKS.md, "Where the
 * time goes"). Without the decode, one huge line image would teach the estimate that every line is
 * as slow as it was.
 */
const LINE_UNITS_PER_DECODED_MPX = 10;

/**
 * The line whose recognition measures this machine's speed (Admission.calibrate): blank, as wide
 * as a long line of a document as the recognizer sees it. Its time is the fastest of a few runs
 * after one that warms the session, each run when no call's task runs or waits.
 */
const CALIBRATION_LINE = { width: 640, height: 48 };
const CALIBRATION_RUNS = 3;
const CALIBRATION_PRIORITY = Number.MAX_SAFE_INTEGER;

/** A line read, with its stage timings; the total is their sum. */
function lineOutcome(line: LineRead, t: Pick<StageTimings, 'decodeMs' | 'queueMs' | 'classifyMs' | 'recognizeMs'>): LineOutcome {
  const timings = { ...zeroTimings(), ...t, totalMs: t.decodeMs + t.queueMs + t.classifyMs + t.recognizeMs };
  return { ok: true, line: { text: line.text, confidence: line.confidence }, timings };
}

/**
 * The OCR pipeline, usable without gRPC: decode → detect → crop → classify → recognize.
 * Model calls run on a pool of worker threads; this object only orchestrates.
 */
export class OcrEngine {
  private readonly sharedBuffers = new SharedBufferThread();
  private readonly sharedImages = new SharedImagePool(IDLE_SHARED_IMAGE_BYTES, (bytes) => this.sharedBuffers.allocate(bytes));
  private readonly copyTurns = new MainThreadTurns();
  /** Shared by every request and tile stream of this engine. */
  readonly budget: MemoryBudget;
  readonly admission: Admission;
  private calibration: Promise<number | undefined> | undefined;

  private constructor(
    readonly config: EngineConfig,
    readonly manifest: ModelManifest,
    private readonly pool: WorkerPool,
    private readonly dictionarySize: number,
  ) {
    this.budget = new MemoryBudget(config.memoryBudgetBytes);
    this.admission = new Admission(this.budget, { workers: pool.size, maxWaitMs: config.maxWaitMs, deadlineShare: DEADLINE_SHARE });
  }

  static async create(overrides: Partial<EngineConfig> = {}): Promise<OcrEngine> {
    const manifestPath = overrides.manifestPath ?? DEFAULT_MANIFEST;
    const manifest = loadManifest(manifestPath);
    const base = defaultEngineConfig(manifestPath, manifest);
    const config: EngineConfig = {
      ...base,
      // Unless set, the budget follows the workers asked for.
      memoryBudgetBytes: defaultMemoryBudget(machineMemoryBytes(), overrides.workers ?? base.workers),
      ...overrides,
      defaults: { ...base.defaults, ...overrides.defaults },
    };
    const dictionarySize = readDictionary(manifest).length;
    // Once, here: the workers load what this leaves instead of each rewriting the models.
    const { models } = await prepareEngineModels(manifest, {
      simplify: config.simplifyGraphs,
      recPrecision: config.recPrecision,
      cacheDir: config.modelCacheDir,
    });
    const pool = await WorkerPool.start(
      config.workers,
      {
        manifestPath: config.manifestPath,
        threads: config.threadsPerWorker,
        detectorThreads: config.detectorThreads,
        recBatchSize: config.recBatchSize,
        models,
        detArenaPixels: config.defaults.maxSideLen ** 2,
      },
      { depth: 1 + config.prefetch, overrunMs: config.overrunMs, taskCapMs: config.taskCapMs },
    );
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
      limits: { ...this.config.decodeLimits, memoryBudgetBytes: this.config.memoryBudgetBytes, maxWaitMs: this.config.maxWaitMs },
    };
  }

  /** The pipeline's last stage, for lines read elsewhere (the tiles of a stream). */
  orderLines(lines: OcrLine[], options: RecognizeOptions = {}): OcrLine[] {
    return orderLines(lines, options.minConfidence ?? this.config.defaults.minConfidence);
  }

  /**
   * Settles once every inference worker has loaded the models; rejects with the first that could
   * not. create() resolves when the first one has, so that the engine serves from then on.
   */
  get workersLoaded(): Promise<void> {
    return this.pool.allLoaded;
  }

  /** Requests admitted and not yet finished. */
  get inFlight(): number {
    return this.admission.inFlight;
  }

  /** Inference workers loaded and taking tasks. */
  get loadedWorkers(): number {
    return this.pool.loaded;
  }

  /** Inference workers running a model task now. */
  get busyWorkers(): number {
    return this.pool.busy;
  }

  get queuedTasks(): number {
    return this.pool.queued;
  }

  /** Workers replaced because a task overran its deadline or the cap. */
  get stoppedWorkers(): number {
    return this.pool.stoppedWorkers;
  }

  /** Workers replaced because they died while serving. */
  get crashedWorkers(): number {
    return this.pool.crashedWorkers;
  }

  /** Told of each inference worker lost while serving (WorkerPool.onWorkerLost): the server logs it. */
  set onWorkerLost(listener: WorkerPool['onWorkerLost']) {
    this.pool.onWorkerLost = listener;
  }

  /**
   * Give back what a burst left behind: the shared buffers kept for reuse, and the garbage of every
   * thread (large buffers of a burst wait for a collection that an idle V8 may not run for long).
   */
  async releaseIdleMemory(): Promise<void> {
    this.sharedImages.dropIdle();
    await this.pool.collectGarbage();
  }

  /** Stop the workers; `stuck` counts those still inside a model call (worker-phase.ts). */
  async close(): Promise<PoolClosed> {
    const [closed] = await Promise.all([this.pool.close(), this.sharedBuffers.close()]);
    return closed;
  }

  /** Settles once every worker has exited after close(): from then on process.exit() is safe (WorkerPool.exited). */
  exited(): Promise<void> {
    return this.pool.exited();
  }

  /**
   * Make admission's starting estimates this machine's (Admission.calibrate), once every worker has
   * loaded, so that loading does not slow the measure, and behind any call that comes first. Settles
   * with the calibration line's time in ms; undefined where it could not be measured (the engine
   * closed first, or a worker failed to load), the estimates then staying as they were. Started once,
   * by the server: an engine used in process, whose calls carry no deadline, has no need of it.
   */
  calibrate(): Promise<number | undefined> {
    this.calibration ??= this.pool.allLoaded
      .then(() => this.calibrationLineMs())
      .then(
        (ms) => {
          this.admission.calibrate(ms, this.config.recPrecision);
          return ms;
        },
        () => undefined,
      );
    return this.calibration;
  }

  /** The recognizer's time on CALIBRATION_LINE on this machine, in ms. */
  private async calibrationLineMs(): Promise<number> {
    const { width, height } = CALIBRATION_LINE;
    const lease = await this.sharedImages.blank(width, height, 3);
    try {
      new Uint8Array(lease.image.buffer, 0, width * height * 3).fill(255);
      const task: ReadLinesTask = {
        kind: 'readLines',
        image: lease.image,
        quads: [wholeImageQuad(width, height)],
        useAngleCls: false,
        wholeLines: true,
      };
      const times: number[] = [];
      for (let i = 0; i <= CALIBRATION_RUNS; i++)
        times.push((await this.pool.run(task, { priority: CALIBRATION_PRIORITY, exclusive: true })).elapsedMs);
      return Math.min(...times.slice(1));
    } finally {
      lease.release();
    }
  }

  /** Whole pipeline on one encoded image: admitted by what its header says it will cost, then decoded. */
  async recognize(encoded: Uint8Array, options: RecognizeOptions = {}): Promise<OcrResult> {
    const input = new SharpInput(encoded);
    const probe = await probeImage(input, this.config.decodeLimits);
    const cost = {
      ...this.pageCost(probe.width, probe.height, options, this.inputDecodingBytes(input, probe)),
      encodedBytes: input.heldBytes,
    };
    return this.admission.run(cost, options, (call) => this.readPage(() => this.decodeShared(input, probe, call), options, call));
  }

  /** What decoding an image of `probe`'s size holds while it runs, as a page's cost counts it. */
  decodingBytes(probe: Pick<ImageProbe, 'width' | 'height'>): number {
    return probe.width * probe.height * DECODED_BYTES_PER_PIXEL;
  }

  /** What decoding `input` holds while it runs: its pixels' allowance, or its file and copies where they outweigh it. */
  inputDecodingBytes(input: SharpInput, probe: Pick<ImageProbe, 'width' | 'height'>): number {
    return Math.max(this.decodingBytes(probe), encodedCopiesBytes(input));
  }

  /**
   * Encoded bytes → upright RGB pixels, decoded by a worker as a page's are, for a caller that holds
   * their memory itself (a tile stream: inputDecodingBytes while it runs, then the pixels returned). The
   * main thread reads the header only, and copies the pixels out a slice a turn. `probe` is
   * probeImage's reading of the bytes (given as the SharpInput it read, the PNG text it dropped is
   * not dropped again).
   */
  async decode(
    encoded: Uint8Array | SharpInput,
    probe: ImageProbe,
    options: Pick<RecognizeOptions, 'priority' | 'signal'> = {},
  ): Promise<RawImage> {
    const ticket = this.admission.unadmittedTicket(options.priority ?? 'interactive', options.signal);
    const lease = await this.decodeShared(sharpInputOf(encoded), probe, ticket);
    try {
      const { width, height, channels, buffer } = lease.image;
      const data = new Uint8Array(width * height * channels);
      await this.copyTurns.copy(data, new Uint8Array(buffer, 0, data.length));
      return { data, width, height, channels };
    } finally {
      lease.release();
    }
  }

  /**
   * What recognizeImage holds of the budget while it reads pixels of this size with these options
   * (its detector's input), on top of the pixels, which its caller holds.
   */
  readingBytes(width: number, height: number, options: RecognizeOptions = {}): number {
    return this.pageCost(width, height, options, 0).bytes;
  }

  /** Whole pipeline on pixels already decoded (a tile of a larger image, whose caller holds its memory). */
  async recognizeImage(image: RawImage, options: RecognizeOptions = {}): Promise<OcrResult> {
    const cost = { ...this.pageCost(image.width, image.height, options, 0), encodedBytes: 0 };
    return this.admission.run(cost, options, (call) => this.readPage(() => this.share(image), options, call));
  }

  /** What recognizeRegions holds of the budget while it reads `count` regions, on top of the image, which its caller holds. */
  regionsBytes(count: number): number {
    return count * LINE_BYTES;
  }

  /** Read given regions of an image (no detection): lines re-read whole across tile borders. */
  async recognizeRegions(image: RawImage, quads: Quad[], options: RecognizeOptions = {}): Promise<OcrLine[]> {
    if (quads.length === 0) return [];
    const cost: CallCost = {
      bytes: this.regionsBytes(quads.length),
      encodedBytes: 0,
      kind: 'line',
      units: quads.length,
      what: `${quads.length} lines`,
    };
    return this.admission.run(cost, options, async (call) => {
      const read = await this.withShared(image, (shared) => this.readQuads(shared, quads, options, call, false));
      return quads.map((box, i) => ({ box, text: read.lines[i]!.text, confidence: read.lines[i]!.confidence }));
    });
  }

  /**
   * Recognizer only, one text line per image. A bad image fails alone: its outcome carries the
   * error and the others are read. The call is admitted by the sizes its images' headers declare.
   */
  async recognizeLines(images: Uint8Array[], options: RecognizeOptions = {}): Promise<LineOutcome[]> {
    const inputs = images.map((buf) => new SharpInput(buf));
    const probes = await Promise.all(
      inputs.map((input) => probeImage(input, this.config.decodeLimits).catch((err: unknown) => asOcrError(err))),
    );
    const decodedPixels = probes.reduce((sum, p) => sum + (p instanceof OcrError ? 0 : p.width * p.height), 0);
    const copiedBytes = inputs.reduce((sum, input) => sum + encodedCopiesBytes(input), 0);
    const cost: CallCost = {
      bytes: Math.max(decodedPixels * DECODED_BYTES_PER_PIXEL, copiedBytes) + images.length * LINE_BYTES,
      encodedBytes: inputs.reduce((sum, input) => sum + input.heldBytes, 0),
      kind: 'line',
      units: images.length + (LINE_UNITS_PER_DECODED_MPX * decodedPixels) / 1e6,
      what: `a request of ${images.length} line images`,
      // No option or tiling makes a line smaller: the recognizer reads each whole.
      advice: 'send fewer line images a request, and crop each to its line or scale it down',
    };
    return this.admission.run(cost, options, (call) =>
      // Each line goes to the workers as soon as it is decoded, not once the whole call is, so the
      // workers start on a call after one decode, not thirty.
      Promise.all(
        inputs.map((input, i) => {
          const probe = probes[i]!;
          return probe instanceof OcrError
            ? Promise.resolve({ ok: false as const, error: probe })
            : this.readLine(input, probe, options, call);
        }),
      ),
    );
  }

  /** What a page will cost: its decoded pixels (`decodedBytes`) and its detector input, from the options. */
  private pageCost(width: number, height: number, options: RecognizeOptions, decodedBytes: number): Omit<CallCost, 'encodedBytes'> {
    const d = this.config.defaults;
    const det = detectorInputSize(
      width,
      height,
      { maxSideLen: options.maxSideLen ?? d.maxSideLen, minSideLen: options.minSideLen ?? d.minSideLen },
      this.manifest.det.sizeMultiple,
    );
    const detPixels = det.width * det.height;
    const perPixel = detPixels > this.detArenaPixels ? UNBOUNDED_DETECTOR_BYTES_PER_PIXEL : DETECTOR_BYTES_PER_PIXEL;
    return {
      bytes: decodedBytes + detPixels * perPixel,
      kind: 'page',
      units: detPixels / 1e6,
      what: `a ${width}×${height} image read by the detector at ${det.width}×${det.height}`,
    };
  }

  private get detArenaPixels(): number {
    return this.config.defaults.maxSideLen ** 2;
  }

  /**
   * Encoded bytes → pixels in pooled shared memory, decoded by a worker (sharp, or the BMP decoder):
   * the main thread neither decodes nor copies pixels, so a burst of large images cannot stall it.
   * The worker is given a PNG's bytes without the text the probe dropped, and told so.
   */
  private async decodeShared(source: SharpInput, probe: ImageProbe, call: CallTicket): Promise<SharedImageLease> {
    const encoded = source.bytes;
    const shared = await this.sharedImages.blank(probe.width, probe.height, 3);
    try {
      // The file's bytes alone, in pooled shared memory: posting a view would copy the whole message
      // it lies in, and a worker that saw a message's own shared memory would keep it until it collects.
      const input = await this.sharedImages.forBytes(encoded.length);
      try {
        await this.copyTurns.copy(bytesOf(input), encoded);
        const task = {
          kind: 'decode',
          bytes: bytesOf(input),
          textless: source.dropped,
          limits: this.config.decodeLimits,
          target: shared.image.buffer,
        } as const;
        const { reply } = await this.runOn([shared, input], task, call);
        if (reply.width !== probe.width || reply.height !== probe.height) {
          throw invalidArgument(
            `${probe.format.toUpperCase()} image decoded to ${reply.width}×${reply.height}, not the ${probe.width}×${probe.height} its header declares`,
          );
        }
        return shared;
      } finally {
        input.release();
      }
    } catch (err) {
      shared.release();
      throw err;
    }
  }

  private runOptions(call: CallTicket): RunOptions {
    return {
      priority: call.order,
      ...(call.signal ? { signal: call.signal } : {}),
      ...(call.deadline !== undefined ? { deadline: call.deadline } : {}),
    };
  }

  /** One line image. An image that cannot be decoded fails alone; any other error fails the call. */
  private async readLine(input: SharpInput, probe: ImageProbe, options: RecognizeOptions, call: CallTicket): Promise<LineOutcome> {
    const started = performance.now();
    const buf = input.file;
    // A plain PNG or JPEG is decoded by the worker that reads it, in one task; any other image in a task of its own.
    let image: SharedImageLease | PlainFormat;
    try {
      image = plainImageSize(buf, this.config.decodeLimits)?.format ?? (await this.decodeShared(input, probe, call));
    } catch (err) {
      if (err instanceof OcrError && err.code === 'INVALID_ARGUMENT') return { ok: false, error: err };
      throw err;
    }
    if (typeof image === 'string') return this.readEncodedLine(buf, image, options, call);
    const shared = image;
    try {
      const decodeMs = performance.now() - started;
      const whole = [wholeImageQuad(shared.image.width, shared.image.height)];
      const read = await this.readQuads(shared, whole, options, call, true);
      return lineOutcome(read.lines[0]!, { decodeMs, queueMs: read.waitMs, classifyMs: read.classifyMs, recognizeMs: read.recognizeMs });
    } finally {
      shared.release();
    }
  }

  /**
   * A plain PNG or JPEG line image (plainImageSize), decoded in a worker rather than by sharp: for
   * images this small sharp's fixed cost is most of the decode, and the main thread is spared the
   * pixels. A corrupt image fails alone, as with decodeImage.
   */
  private async readEncodedLine(buf: Uint8Array, format: PlainFormat, options: RecognizeOptions, call: CallTicket): Promise<LineOutcome> {
    const useAngleCls = options.useAngleCls ?? this.config.defaults.useAngleCls;
    let read: TaskResult<EncodedLineReply>;
    try {
      read = await this.run({ kind: 'encodedLine', format, bytes: new Uint8Array(buf), useAngleCls }, call);
    } catch (err) {
      if (err instanceof OcrError && err.code === 'INVALID_ARGUMENT') return { ok: false, error: err };
      throw err;
    }
    const { lines, decodeMs, classifyMs, recognizeMs } = read.reply;
    return lineOutcome(lines[0]!, { decodeMs, queueMs: read.waitMs, classifyMs, recognizeMs });
  }

  /** A worker task of the call, its time counted to the call. */
  private async run<T extends Task>(task: T, call: CallTicket): Promise<TaskResult<ReplyFor<T>>> {
    if (call.signal) setMaxListeners(0, call.signal);
    const result = await this.pool.run(task, this.runOptions(call));
    call.spent(result.elapsedMs);
    return result;
  }

  /** The image's pixels in pooled shared memory, copied a slice a turn: a tile stream's canvas can be hundreds of MB. */
  private async share(image: RawImage): Promise<SharedImageLease> {
    const lease = await this.sharedImages.blank(image.width, image.height, image.channels);
    await this.copyTurns.copy(new Uint8Array(lease.image.buffer, 0, image.data.length), image.data);
    return lease;
  }

  /** Run `use` with the image in pooled shared memory, which its worker tasks hold until they finish. */
  private async withShared<T>(image: RawImage, use: (shared: SharedImageLease) => Promise<T>): Promise<T> {
    const lease = await this.share(image);
    try {
      return await use(lease);
    } finally {
      lease.release();
    }
  }

  /** Run `task` with each lease held until its worker is done with it: the image stays out of the pool until then. */
  private runOn<T extends Task>(
    leases: SharedImageLease | SharedImageLease[],
    task: T,
    call: CallTicket,
  ): Promise<TaskResult<ReplyFor<T>>> {
    const done = [leases].flat().map((lease) => lease.hold());
    return this.run(task, call).finally(() => done.forEach((d) => d()));
  }

  /** readPage with its stages on this engine's workers; `decode` puts the image in shared memory. */
  private async readPage(decode: () => Promise<SharedImageLease>, options: RecognizeOptions, call: CallTicket): Promise<OcrResult> {
    let lease: SharedImageLease | undefined;
    try {
      return await readPage<SharedImageLease>(
        {
          decode: async () => {
            const started = performance.now();
            lease = await decode();
            return { image: lease, width: lease.image.width, height: lease.image.height, decodeMs: performance.now() - started };
          },
          detect: async (image, detectOptions, autoRotate) => {
            const r = await this.runOn(image, { kind: 'detect', image: image.image, options: detectOptions, autoRotate }, call);
            return { value: r.reply, elapsedMs: r.elapsedMs, waitMs: r.waitMs };
          },
          readLines: (image, quads, wholeLines) => this.readQuads(image, quads, options, call, wholeLines),
        },
        this.pageSettings(options),
      );
    } finally {
      lease?.release();
    }
  }

  private pageSettings(options: RecognizeOptions): PageSettings {
    const d = this.config.defaults;
    return {
      detect: {
        maxSideLen: options.maxSideLen ?? d.maxSideLen,
        minSideLen: options.minSideLen ?? d.minSideLen,
        db: {
          ...this.manifest.det.db,
          boxThresh: options.boxThreshold ?? d.boxThreshold,
          unclipRatio: options.unclipRatio ?? d.unclipRatio,
        },
      },
      autoRotate: options.autoRotate ?? d.autoRotate,
      rowMergeGap: this.config.rowMergeGap,
      minConfidence: options.minConfidence ?? d.minConfidence,
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
    call: CallTicket,
    wholeLines: boolean,
  ): Promise<LinesRead> {
    const useAngleCls = options.useAngleCls ?? this.config.defaults.useAngleCls;
    const aspect = quads.map((q) => {
      const s = quadSize(q);
      return s.width / Math.max(1, s.height);
    });
    const order = quads.map((_, i) => i).sort((a, b) => aspect[b]! - aspect[a]!);
    const chunkSize = Math.max(1, Math.min(2 * this.config.recBatchSize, Math.ceil(order.length / this.pool.size)));
    const chunks: number[][] = [];
    for (let i = 0; i < order.length; i += chunkSize) chunks.push(order.slice(i, i + chunkSize));
    const lines = new Array<LineRead>(quads.length);
    const started = performance.now();
    let firstStart = Infinity;
    // Chunks run side by side: the phase takes as long as its slowest chunk's classification.
    let classifyMs = 0;
    await Promise.all(
      chunks.map(async (chunk) => {
        const r = await this.runOn(
          image,
          { kind: 'readLines', image: image.image, quads: chunk.map((i) => quads[i]!), useAngleCls, wholeLines },
          call,
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
