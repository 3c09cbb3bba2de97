/** Data shapes shared by the engine's stages. No gRPC, no onnxruntime types here. */

import type { Quad } from '../shared/quad.js';
import type { Rotation } from './detect/orientation.js';

export type { Point, Quad } from '../shared/quad.js';
export type { Rotation } from './detect/orientation.js';

/** Arithmetic of a model's matrix products: as shipped, or int8 derived at load (onnx-graph/quantize.ts). */
export type Precision = 'float32' | 'int8';

/** Interleaved 8-bit pixels, row-major. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** A single-channel float map, row-major (the detector's probability output). */
export interface ProbMap {
  data: Float32Array;
  width: number;
  height: number;
}

export interface DetectedBox {
  quad: Quad;
  /** Mean probability inside the box: how sure the detector is that this is text. */
  score: number;
}

export interface OcrLine {
  text: string;
  /** Mean of the per-character maximum probabilities, 0..1. */
  confidence: number;
  box: Quad;
}

export interface StageTimings {
  queueMs: number;
  decodeMs: number;
  detectMs: number;
  classifyMs: number;
  recognizeMs: number;
  totalMs: number;
}

/** Timings of a call that ran no stage yet. */
export const zeroTimings = (): StageTimings => ({ queueMs: 0, decodeMs: 0, detectMs: 0, classifyMs: 0, recognizeMs: 0, totalMs: 0 });

export interface OcrResult {
  width: number;
  height: number;
  /**
   * How far (clockwise) the page was found turned in the image, 0, 90, 180 or 270: its lines were
   * read with it turned back, and come in its reading order; their boxes are in the image's pixels.
   */
  rotation: Rotation;
  lines: OcrLine[];
  timings: StageTimings;
}
