/**
 * Greedy CTC decoding reads only each time step's most likely class and its probability. Computed
 * in the graph (ArgMax and ReduceMax over the recognizer's class probabilities), they are all that
 * leaves onnxruntime: two values per step instead of the whole [lines, steps, classes] tensor,
 * which no longer has to be allocated, copied out and scanned in JavaScript. It saves most while
 * onnxruntime still meets new widths, little once it has seen them (docs/BENCHMARKS.md, "Tried and
 * kept").
 */
import {
  DATA_TYPE_FLOAT,
  DATA_TYPE_INT32,
  graphOutputDims,
  intAttribute,
  makeNode,
  readModel,
  reduceNodes,
  setGraphOutputs,
  writeModel,
  type OnnxModel,
} from './model.js';

/** The outputs of a recognizer with the greedy head: [lines, steps] each. */
export const BEST_CLASS_OUTPUT = 'greedy_head.best_class';
export const BEST_PROBABILITY_OUTPUT = 'greedy_head.best_probability';

/** The recognizer `bytes` (one output: class probabilities [lines, steps, classes]) with the greedy head. */
export function withGreedyHead(bytes: Uint8Array): Uint8Array {
  const model = readModel(bytes);
  if (model.graphOutputs.size !== 1) throw new Error(`a CTC recognizer has one output; this model has ${model.graphOutputs.size}`);
  const [probabilities] = [...model.graphOutputs] as [string];
  const classIndex = `${BEST_CLASS_OUTPUT}.int64`;
  const keepdims = ['keepdims', intAttribute('keepdims', 0)] as const;
  model.nodes.push(
    makeNode('ArgMax', [probabilities], classIndex, new Map([['axis', intAttribute('axis', 2)], keepdims])),
    // Int32 reads in JavaScript as plain numbers (int64 would be BigInt).
    makeNode('Cast', [classIndex], BEST_CLASS_OUTPUT, new Map([['to', intAttribute('to', DATA_TYPE_INT32)]])),
    ...reduceNodes(model, 'ReduceMax', probabilities, BEST_PROBABILITY_OUTPUT, [2], false),
  );
  setGreedyHeadOutputs(model);
  return writeModel(model);
}

/** Make the greedy head's two tensors the model's outputs, in place of the class probabilities. */
export function setGreedyHeadOutputs(model: OnnxModel): void {
  // [lines, steps]: the probabilities' first two dimensions, else two of unknown size.
  const [probabilities] = [...model.graphOutputs] as [string];
  const dims = graphOutputDims(model, probabilities)?.slice(0, 2) ?? [];
  while (dims.length < 2) dims.push(new Uint8Array());
  setGraphOutputs(model, [
    { name: BEST_CLASS_OUTPUT, dataType: DATA_TYPE_INT32, dims },
    { name: BEST_PROBABILITY_OUTPUT, dataType: DATA_TYPE_FLOAT, dims },
  ]);
}
