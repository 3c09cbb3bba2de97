/**
 * What a rewrite of a model does (rewrite.ts), apart from the rewriting code: the model cache reads
 * it at every start, and loads the rewriting code (and its protobuf library) only on a miss.
 */
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
