/** Engine results ↔ wire messages, and validation of the options a caller sends. */
import type { RecognizeOptions as EngineOptions, OcrLine, StageTimings } from '../engine/index.js';
import type { Line, RecognizeOptions, Timings } from '../gen/ocr/v1/ocr.js';
import { invalidArgument } from '../shared/errors.js';

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

export function toLine(line: OcrLine): Line {
  return {
    text: line.text,
    confidence: line.confidence,
    box: line.box.map(([x, y]) => ({ x: round(x, 1), y: round(y, 1) })),
  };
}

export function toTimings(t: StageTimings): Timings {
  return {
    queueMs: round(t.queueMs, 2),
    decodeMs: round(t.decodeMs, 2),
    detectMs: round(t.detectMs, 2),
    classifyMs: round(t.classifyMs, 2),
    recognizeMs: round(t.recognizeMs, 2),
    totalMs: round(t.totalMs, 2),
  };
}

function checkRange(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value < min || value > max) {
    throw invalidArgument(`options.${name} is ${value}; it must lie in [${min}, ${max}] (leave it unset for the server default)`);
  }
}

/** Unset fields stay unset (the engine's defaults apply); out-of-range ones are refused. */
export function fromOptions(options: RecognizeOptions | undefined, signal: AbortSignal): EngineOptions {
  const o = options ?? {};
  checkRange('max_side_len', o.maxSideLen, 32, 8192);
  checkRange('min_side_len', o.minSideLen, 0, 4096);
  checkRange('box_threshold', o.boxThreshold, 0, 1);
  checkRange('unclip_ratio', o.unclipRatio, 0.5, 4);
  checkRange('min_confidence', o.minConfidence, 0, 1);
  const out: EngineOptions = { signal };
  if (o.maxSideLen !== undefined) out.maxSideLen = o.maxSideLen;
  if (o.minSideLen !== undefined) out.minSideLen = o.minSideLen;
  if (o.boxThreshold !== undefined) out.boxThreshold = o.boxThreshold;
  if (o.unclipRatio !== undefined) out.unclipRatio = o.unclipRatio;
  if (o.useAngleCls !== undefined) out.useAngleCls = o.useAngleCls;
  if (o.autoRotate !== undefined) out.autoRotate = o.autoRotate;
  if (o.minConfidence !== undefined) out.minConfidence = o.minConfidence;
  return out;
}
