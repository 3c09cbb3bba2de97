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

/**
 * The range of each numeric option, under its gRPC name: the one place they are set, which the
 * server checks and the HTTP API's documentation states.
 */
export const OPTION_RANGES = {
  max_side_len: { field: 'maxSideLen', min: 32, max: 8192 },
  min_side_len: { field: 'minSideLen', min: 0, max: 4096 },
  box_threshold: { field: 'boxThreshold', min: 0, max: 1 },
  unclip_ratio: { field: 'unclipRatio', min: 0.5, max: 4 },
  min_confidence: { field: 'minConfidence', min: 0, max: 1 },
} as const satisfies Record<string, { field: keyof RecognizeOptions; min: number; max: number }>;

/**
 * INVALID_ARGUMENT for a numeric option outside its range. The HTTP API checks too, before any
 * call: a gateway's SDK refuses to send what the wire cannot carry (a negative max_side_len), and
 * its caller is told as an instance would tell it.
 */
export function checkOptionRanges(o: RecognizeOptions): void {
  for (const [name, { field, min, max }] of Object.entries(OPTION_RANGES)) {
    const value = o[field];
    if (value !== undefined && (!Number.isFinite(value) || value < min || value > max)) {
      throw invalidArgument(`options.${name} is ${value}; it must lie in [${min}, ${max}] (leave it unset for the server default)`);
    }
  }
}

/** Unset fields stay unset (the engine's defaults apply); out-of-range ones are refused. */
export function fromOptions(options: RecognizeOptions | undefined, signal: AbortSignal): EngineOptions {
  const o = options ?? {};
  checkOptionRanges(o);
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
