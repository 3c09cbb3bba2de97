/**
 * A shipped model's bytes as the engine runs them: simplified (simplify.ts), its matrix products in
 * int8 (quantize.ts), and for the recognizer the greedy head (greedy-head.ts; rescored-head.ts in
 * int8). Every model written on the way has its nodes in topological order (writeModel).
 */
import { withGreedyHead } from './greedy-head.js';
import { quantizeModel } from './quantize.js';
import { withRescoredGreedyHead } from './rescored-head.js';
import { simplifyModel } from './simplify.js';
import { readFileSync } from 'node:fs';
import { hasInt8DotProduct } from '../runtime/cpu-features.js';
import type { Precision } from '../types.js';
import type { RewriteSpec } from './rewrite-spec.js';

export function rewriteModel(bytes: Uint8Array, spec: RewriteSpec): Uint8Array {
  const options = { reduceRange: spec.reduceRange };
  const simplified = spec.simplify ? simplifyModel(bytes).bytes : bytes;
  const int8 = spec.precision === 'int8';
  const body = int8 ? quantizeModel(simplified, options).bytes : simplified;
  if (!spec.greedyHead) return body;
  return int8 ? withRescoredGreedyHead(body, options) : withGreedyHead(body);
}

/**
 * A model file's bytes rewritten as the engine would for this CPU, without the model cache
 * (model-cache.ts): through simplifyModel when asked (the same function in fewer element-wise
 * passes), then through quantizeModel for int8.
 */
export function readModelFile(file: string, simplify: boolean, precision: Precision = 'float32'): Uint8Array {
  return rewriteModel(readFileSync(file), { simplify, precision, greedyHead: false, reduceRange: !hasInt8DotProduct() });
}

/** The recognizer as the engine runs it: readModelFile's, with the greedy head (rescored in int8). */
export function readRecognizerModel(file: string, simplify: boolean, precision: Precision): Uint8Array {
  return rewriteModel(readFileSync(file), { simplify, precision, greedyHead: true, reduceRange: !hasInt8DotProduct() });
}
