/**
 * The OCR pipeline, top to bottom: decode → detect → row-merge and the single-line decision →
 * crop → classify → recognize → reading order. Each stage is a module one hop from here, and every
 * decision between stages is made here. Where a stage runs is not this file's concern: the engine
 * gives `readPage` its stages as tasks on its inference workers, and each worker gives `readLines`
 * the models it holds.
 */
import { selectLines } from '../shared/reading-order.js';
import { mergeRowNeighbours } from '../shared/row-merge.js';
import type { Orientation } from './classify/classifier.js';
import { rotate180 } from './decode/image-ops.js';
import type { DetectOptions } from './detect/detector.js';
import { wholeImageQuad } from './detect/geometry.js';
import { isLineImage } from './detect/line-image.js';
import { cropQuad } from './recognize/crop.js';
import type { DecodedText } from './recognize/ctc.js';
import type { DetectedBox, OcrResult, Quad, RawImage } from './types.js';

/** A stage's answer, the time it ran and the time it waited for a worker. */
export interface Timed<T> {
  value: T;
  elapsedMs: number;
  waitMs: number;
}

/** What readLines answers for each quad. */
export interface LineRead {
  text: string;
  confidence: number;
  /** 180 when the classifier turned the line before it was read. */
  angle: number;
}

export interface LinesRead {
  lines: LineRead[];
  waitMs: number;
  classifyMs: number;
  recognizeMs: number;
}

/** The stages of one page as the engine runs them; `Image` is its handle on the decoded pixels. */
export interface PageStages<Image> {
  decode(): Promise<{ image: Image; width: number; height: number; decodeMs: number }>;
  detect(image: Image, options: DetectOptions): Promise<Timed<DetectedBox[]>>;
  /** crop → classify → recognize of each quad (readLines below, in the workers). */
  readLines(image: Image, quads: Quad[], wholeLines: boolean): Promise<LinesRead>;
}

export interface PageSettings {
  detect: DetectOptions;
  /** Boxes in one row closer than this many line heights are read as one line (0: never). */
  rowMergeGap: number;
  /** Lines read with lower confidence are left out. */
  minConfidence: number;
}

export async function readPage<Image>(stages: PageStages<Image>, settings: PageSettings): Promise<OcrResult> {
  const started = performance.now();
  const { image, width, height, decodeMs } = await stages.decode();
  const detected = await stages.detect(image, settings.detect);
  // Words of one line that the detector split are read as one, with the context between them.
  const rows = mergeRowNeighbours(
    detected.value.map((b) => b.quad),
    settings.rowMergeGap,
  );
  // An image that is itself one line is read whole, padded as the recognizer was trained.
  const wholeLine = isLineImage(width, height, rows);
  const quads = wholeLine ? [wholeImageQuad(width, height)] : rows;
  const read = await stages.readLines(image, quads, wholeLine);
  const lines = quads.map((box, i) => ({ box, text: read.lines[i]!.text, confidence: read.lines[i]!.confidence }));
  return {
    width,
    height,
    lines: orderLines(lines, settings.minConfidence),
    timings: {
      queueMs: detected.waitMs + read.waitMs,
      decodeMs,
      detectMs: detected.elapsedMs,
      classifyMs: read.classifyMs,
      recognizeMs: read.recognizeMs,
      totalMs: performance.now() - started,
    },
  };
}

/** The last stage: empty and unsure readings dropped, the rest in reading order. */
export function orderLines<T extends { box: Quad; text: string; confidence: number }>(lines: readonly T[], minConfidence: number): T[] {
  return selectLines(lines, minConfidence);
}

/** The models an inference worker holds for reading lines. */
export interface LineModels {
  recognizer: {
    readonly inputHeight: number;
    readonly maxWidth: number;
    recognizeBatch(crops: RawImage[], wholeLines: boolean): Promise<DecodedText[]>;
  };
  classifier: {
    readonly inputHeight: number;
    readonly inputWidth: number;
    /** A line is turned when the classifier says 180° with at least this score. */
    readonly threshold: number;
    classify(crops: readonly RawImage[]): Promise<Orientation[]>;
  } | null;
  /** Lines per model pass. */
  batchSize: number;
}

export interface LineReadOptions {
  useAngleCls: boolean;
  /** The quads are whole line images: pad them as the recognizer was trained. */
  wholeLines: boolean;
}

/** crop → classify → recognize, for the quads of one worker task. */
export async function readLines(
  models: LineModels,
  image: RawImage,
  quads: readonly Quad[],
  options: LineReadOptions,
): Promise<Omit<LinesRead, 'waitMs'>> {
  const { recognizer, classifier, batchSize } = models;
  const crops = quads.map((quad) => cropQuad(image, quad, recognizer.inputHeight, recognizer.maxWidth));
  const angles = new Array<number>(crops.length).fill(0);
  let classifyMs = 0;
  if (options.useAngleCls && classifier) {
    const started = performance.now();
    const small = quads.map((quad) => cropQuad(image, quad, classifier.inputHeight, classifier.inputWidth));
    for (const batch of chunks(
      small.map((_, i) => i),
      batchSize,
    )) {
      const found = await classifier.classify(batch.map((i) => small[i]!));
      found.forEach((o, k) => {
        const i = batch[k]!;
        if (o.angle === 180 && o.score >= classifier.threshold) {
          angles[i] = 180;
          crops[i] = rotate180(crops[i]!);
        }
      });
    }
    classifyMs = performance.now() - started;
  }
  const started = performance.now();
  const lines = new Array<LineRead>(crops.length);
  // Similar widths in one batch: less padding to compute over.
  const order = crops.map((_, i) => i).sort((a, b) => crops[a]!.width - crops[b]!.width);
  for (const batch of chunks(order, batchSize)) {
    const texts = await recognizer.recognizeBatch(
      batch.map((i) => crops[i]!),
      options.wholeLines,
    );
    texts.forEach((t, k) => {
      const i = batch[k]!;
      lines[i] = { text: t.text, confidence: t.confidence, angle: angles[i]! };
    });
  }
  return { lines, classifyMs, recognizeMs: performance.now() - started };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
