/** Messages between the engine (main thread) and its inference workers. */
import type { DecodeLimits, PlainFormat } from '../decode/decode.js';
import type { DetectOptions } from '../detect/detector.js';
import type { Quad } from '../types.js';
import type { EngineModels } from './model-cache.js';
import type { PhaseCell } from './worker-phase.js';
import type { LinesRead, PageLayout } from '../pipeline.js';

/** Decoded pixels in shared memory, so every worker reads them without a copy. */
export interface SharedImage {
  /** At least width × height × channels bytes (pooled buffers may be larger); the pixels start at 0. */
  buffer: SharedArrayBuffer;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** detectPage: the page's boxes and how it is turned. */
export interface DetectTask {
  kind: 'detect';
  image: SharedImage;
  options: DetectOptions;
  autoRotate: boolean;
}

/** crop → classify → recognize of some quads of a shared image (readLines). */
export interface ReadLinesTask {
  kind: 'readLines';
  image: SharedImage;
  quads: Quad[];
  useAngleCls: boolean;
  /** The quads are whole line images: pad them as the recognizer was trained. */
  wholeLines: boolean;
}

/** A whole-line PNG or JPEG that plainImageSize passed: the worker decodes it (decodePlainPng, decodePlainJpeg) and reads it. */
export interface EncodedLineTask {
  kind: 'encodedLine';
  format: PlainFormat;
  /** The file's bytes alone (a view into a larger buffer would be copied whole). */
  bytes: Uint8Array;
  useAngleCls: boolean;
}

/** An encoded image, decoded (decodeImage) into `target`: the main thread neither decodes nor copies pixels. */
export interface DecodeTask {
  kind: 'decode';
  /** The file's bytes alone, in pooled shared memory (SharedImagePool.forBytes): posting them copies nothing. */
  bytes: Uint8Array;
  /** Whether they are a PNG's whose text the probe dropped already (SharpInput.dropped). */
  textless: boolean;
  limits: DecodeLimits;
  /** Shared memory sized for the image its header declares. */
  target: SharedArrayBuffer;
}

export type Task = DetectTask | ReadLinesTask | EncodedLineTask | DecodeTask;

export type DetectReply = PageLayout;

export type LinesReply = Omit<LinesRead, 'waitMs'>;

export interface EncodedLineReply extends LinesReply {
  decodeMs: number;
}

export interface DecodeReply {
  width: number;
  height: number;
  decodeMs: number;
}

export type ReplyFor<T extends Task> = T extends DetectTask
  ? DetectReply
  : T extends EncodedLineTask
    ? EncodedLineReply
    : T extends DecodeTask
      ? DecodeReply
      : LinesReply;

export interface WorkerRequest {
  id: number;
  task: Task;
  /** No other worker is busy and nothing waits: the task may use more than its share of threads. */
  alone: boolean;
}

export type WorkerResponse =
  | { id: number; ok: true; reply: DetectReply | LinesReply | DecodeReply; elapsedMs: number }
  | { id: number; ok: false; error: { code: string; message: string } };

export interface WorkerConfig {
  manifestPath: string;
  threads: number;
  /** Threads of the detector when its worker runs alone (one otherwise). */
  detectorThreads: number;
  /**
   * This worker also holds the detector on detectorThreads threads, and the pool sends it the tasks
   * that run alone. One worker holds it, not each: every session keeps a memory arena of its own,
   * as large as the largest input it has run.
   */
  wide: boolean;
  recBatchSize: number;
  /** The models as rewritten for the engine (model-cache.ts): prepared once, before the workers start. */
  models: EngineModels;
  /** Detector inputs up to this many pixels run on the session with a memory arena. */
  detArenaPixels: number;
  /** Where the worker marks its native model calls, so that the pool knows when it may terminate it. */
  phase: PhaseCell;
}

/** Asks a worker for a full garbage collection once its tasks are done; it answers WorkerCollected. */
export interface WorkerCollect {
  collectGarbage: true;
}

export interface WorkerCollected {
  collected: true;
}

/** Sent once by a worker when its models are loaded. */
export interface WorkerReady {
  ready: true;
}
