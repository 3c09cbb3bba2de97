/**
 * A shipped model's bytes as the engine runs them: simplified (simplify.ts), its matrix products in
 * int8 (quantize.ts), and for the recognizer the greedy head (greedy-head.ts; rescored-head.ts in
 * int8). Every model written on the way has its nodes in topological order (writeModel).
 */
import { withGreedyHead } from './greedy-head.js';
import { quantizeModel } from './quantize.js';
import { withRescoredGreedyHead } from './rescored-head.js';
import { simplifyModel } from './simplify.js';
import type { Precision } from '../types.js';

export interface RewriteSpec {
  simplify: boolean;
  precision: Precision;
  /** Append the greedy CTC head: recognizers only. */
  greedyHead: boolean;
  /** int8 weights in 7 bits, for CPUs without VNNI (QuantizeOptions); read only in int8. */
  reduceRange: boolean;
}

/** Whether the spec changes the model at all: a model it leaves alone runs as shipped. */
export const rewrites = (spec: RewriteSpec): boolean => spec.simplify || spec.precision === 'int8' || spec.greedyHead;

export function rewriteModel(bytes: Uint8Array, spec: RewriteSpec): Uint8Array {
  const options = { reduceRange: spec.reduceRange };
  const simplified = spec.simplify ? simplifyModel(bytes).bytes : bytes;
  const int8 = spec.precision === 'int8';
  const body = int8 ? quantizeModel(simplified, options).bytes : simplified;
  if (!spec.greedyHead) return body;
  return int8 ? withRescoredGreedyHead(body, options) : withGreedyHead(body);
}
