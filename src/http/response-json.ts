/** The gRPC answers as the JSON of the HTTP API: the replaced service's shape, in snake_case. */
import type { Line, RecognizeLinesResponse, RecognizeResponse, ServerInfo, Timings } from '../gen/ocr/v1/ocr.js';
import { lineFailureInHttpTerms, type HttpFailure } from './failure.js';

export interface JsonLine {
  text: string;
  confidence: number;
  /** Four corners, clockwise from the top-left of the text as read, in the image's pixels. */
  box: [number, number][];
}

export type JsonTimings = Record<'queue_ms' | 'decode_ms' | 'detect_ms' | 'classify_ms' | 'recognize_ms' | 'total_ms', number>;

/** Every gRPC status by name: a gateway relays whichever its instances, or a proxy before them, answer. */
const GRPC_CODES: Record<string, number> = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

export function jsonTimings(t: Timings | undefined): JsonTimings {
  return {
    queue_ms: t?.queueMs ?? 0,
    decode_ms: t?.decodeMs ?? 0,
    detect_ms: t?.detectMs ?? 0,
    classify_ms: t?.classifyMs ?? 0,
    recognize_ms: t?.recognizeMs ?? 0,
    total_ms: t?.totalMs ?? 0,
  };
}

/**
 * A `float` field of the gRPC messages as JSON: the float32 the gRPC answer carries, written as the
 * shortest decimal that reads back as it (0.9969021, not 0.9969021081924438). An instance answers
 * HTTP from the engine's doubles and a gateway from the float32s its instances sent: both give the
 * same numbers this way, and readable ones.
 */
export function float32(value: number): number {
  const single = Math.fround(value);
  // A whole number that float32 holds exactly (a box corner, often) is its own shortest decimal.
  if (Number.isInteger(single) && Math.abs(single) <= 2 ** 24) return single;
  // Nine significant digits always read back as the same float32. Rounded to more digits a value
  // comes no farther from it, so the counts that read back run from the fewest up to nine: halving
  // finds the fewest in three or four tries, where counting up took seven for a confidence.
  let fewest = 1;
  let enough = 9;
  while (fewest < enough) {
    const digits = (fewest + enough) >> 1;
    if (Math.fround(Number(single.toPrecision(digits))) === single) enough = digits;
    else fewest = digits + 1;
  }
  return Number(single.toPrecision(enough));
}

export const jsonLine = (line: Line): JsonLine => ({
  text: line.text,
  confidence: float32(line.confidence),
  box: line.box.map((p) => [float32(p.x), float32(p.y)]),
});

export function pageJson(r: RecognizeResponse): object {
  return {
    code: 0,
    msg: 'success',
    data: r.lines.map(jsonLine),
    width: r.width,
    height: r.height,
    rotation: r.rotation,
    cached: r.cached,
    instance_id: r.instanceId,
    timings: jsonTimings(r.timings),
  };
}

export function linesJson(r: RecognizeLinesResponse): object {
  return {
    code: 0,
    msg: 'success',
    // A failed item in the shape of an error answer; its status is the whole answer's, 200.
    data: r.results.map((l) =>
      l.error
        ? { text: '', confidence: 0, ...failureJson({ status: 200, code: l.error.code, message: lineFailureInHttpTerms(l.error.message) }) }
        : { text: l.text, confidence: float32(l.confidence) },
    ),
    instance_id: r.instanceId,
    timings: jsonTimings(r.timings),
  };
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), snakeKeys(v)]));
  return value;
}

export function infoJson(info: ServerInfo): object {
  const d = info.defaults;
  // The defaults' float fields, as the lines' (float32 above).
  const defaults = d && {
    ...d,
    boxThreshold: float32(d.boxThreshold),
    unclipRatio: float32(d.unclipRatio),
    minConfidence: float32(d.minConfidence),
  };
  return { code: 0, msg: 'success', data: snakeKeys({ ...info, defaults }) };
}

/** `code`: the gRPC status number (3 for a body that is no image), never 0; `error`: its name. */
export function failureJson(f: HttpFailure): object {
  return { code: GRPC_CODES[f.code] ?? GRPC_CODES.INVALID_ARGUMENT, msg: f.message, error: f.code };
}
