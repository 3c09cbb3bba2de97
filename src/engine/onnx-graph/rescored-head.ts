/**
 * The greedy head (greedy-head.ts) for an int8 recognizer, with its class scores computed in
 * int8 and the few likeliest classes of each step scored again in float, so that the class chosen
 * is the float model's.
 *
 * The class scores are the recognizer's widest product (120 features × 6625 classes per step in
 * PP-OCRv4). In int8 alone it shortened a line's time, but flipped enough near-ties to raise the
 * development line images' CER (docs/BENCHMARKS.md, "Tried and rejected"). Here the int8 scores
 * only pick the RESCORED_CLASSES likeliest classes; their float scores (their weight columns
 * gathered, one dot product each) choose the step's class. On every crop of eval-dev and eval-real
 * (2163 lines) the float model's class was always among the int8 scores' top two, and every
 * reading matched it. A line takes less time than with the float head (docs/BENCHMARKS.md, "Tried
 * and kept").
 *
 * The best class's probability is exp(m) / Σ exp(s) over all classes, m its float score. The
 * rescored classes enter the sum exactly; the others' share comes from the int8 softmax, relative
 * to its top class: Σ_rest exp(s) / exp(m) ≈ (1 − Σ_rescored P̃) / max P̃. On the same crops the
 * line confidences moved by 3e-5 on average from the float head's.
 */
import { BEST_CLASS_OUTPUT, BEST_PROBABILITY_OUTPUT, setGreedyHeadOutputs } from './greedy-head.js';
import { GraphIndex } from './node-index.js';
import { quantizeColumns, type QuantizeOptions } from './quantize.js';
import {
  DATA_TYPE_FLOAT,
  DATA_TYPE_INT32,
  DATA_TYPE_INT64,
  DATA_TYPE_INT8,
  dropUnreadConstants,
  floatConstants,
  importOpset,
  intAttribute,
  makeNode,
  readModel,
  reduceNodes,
  tensorConstantNode,
  writeModel,
  type OnnxNode,
} from './model.js';

/** How many of the int8 scores' likeliest classes each step scores again in float. */
export const RESCORED_CLASSES = 8;

/** TopK took k as an attribute before opset 10 and as an input since. */
const TOPK_K_AS_INPUT = 10;
/** OneHot, which picks the rescored class, came in opset 9. */
const ONE_HOT_OPSET = 9;

const PREFIX = 'rescored_head';
const v = (name: string): string => `${PREFIX}.${name}`;

/** The recognizer's last steps: scores = MatMul(features, W) + b, then Softmax, the graph's only output. */
interface ClassScores {
  features: string;
  weights: { k: number; n: number; data: Float32Array };
  bias: Float32Array;
  matmul: OnnxNode;
  add: OnnxNode;
  softmax: OnnxNode;
}

function classScores(index: GraphIndex): ClassScores | undefined {
  const { model, producer, constants } = index;
  const [probabilities] = [...model.graphOutputs];
  const softmax = probabilities === undefined || model.graphOutputs.size !== 1 ? undefined : producer.get(probabilities);
  if (softmax?.opType !== 'Softmax' || softmax.domain) return undefined;
  const add = producer.get(softmax.inputs[0] ?? '');
  if (add?.opType !== 'Add' || add.domain || index.soleConsumer(add.outputs[0]!, 'Softmax') !== softmax) return undefined;
  const [product, biasName] = constants.has(add.inputs[1] ?? '') ? [add.inputs[0], add.inputs[1]] : [add.inputs[1], add.inputs[0]];
  const matmul = producer.get(product ?? '');
  if (matmul?.opType !== 'MatMul' || matmul.domain || index.soleConsumer(matmul.outputs[0]!, 'Add') !== add) return undefined;
  const weight = constants.get(matmul.inputs[1] ?? '');
  const bias = constants.get(biasName ?? '');
  if (weight?.dims.length !== 2 || !bias || bias.data.length !== weight.dims[1]) return undefined;
  const [k, n] = weight.dims as [number, number];
  return { features: matmul.inputs[0]!, weights: { k, n, data: weight.data }, bias: bias.data, matmul, add, softmax };
}

const int64s = (name: string, values: readonly number[]): OnnxNode =>
  tensorConstantNode(name, [values.length], DATA_TYPE_INT64, new BigInt64Array(values.map(BigInt)));
const floatScalar = (name: string, value: number): OnnxNode => tensorConstantNode(name, [], DATA_TYPE_FLOAT, new Float32Array([value]));

/**
 * The int8 recognizer `bytes` (one output: class probabilities [lines, steps, classes], from
 * MatMul + Add + Softmax) with the rescored greedy head; its outputs are withGreedyHead's.
 */
export function withRescoredGreedyHead(bytes: Uint8Array, options: QuantizeOptions): Uint8Array {
  const model = readModel(bytes);
  const scores = classScores(new GraphIndex(model, floatConstants(model)));
  if (!scores || model.opset < ONE_HOT_OPSET) {
    throw new Error(
      'the recognizer does not end in MatMul + Add + Softmax (opset 9 or later), which int8 class scores need; use --rec-precision float32',
    );
  }
  const { k, n, data } = scores.weights;
  const q = quantizeColumns(k, n, (r, c) => data[r * n + c]!, options.reduceRange);
  const transposed = new Float32Array(n * k);
  for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) transposed[c * k + r] = data[r * n + c]!;
  const candidates = RESCORED_CLASSES;
  const topK = makeNode('TopK', [scores.softmax.outputs[0]!], v('top_p'), new Map([['axis', intAttribute('axis', -1)]]));
  topK.outputs.push(v('top_class'));
  const topKConstants: OnnxNode[] = [];
  if (model.opset < TOPK_K_AS_INPUT) topK.attributes.set('k', intAttribute('k', candidates));
  else {
    topKConstants.push(int64s(v('k'), [candidates]));
    topK.inputs.push(v('k'));
  }
  const node = (op: string, inputs: string[], output: string, attributes: [string, ReturnType<typeof intAttribute>][] = []): OnnxNode =>
    makeNode(op, inputs, output, new Map(attributes));
  const reduce = (op: string, input: string, output: string): OnnxNode[] => reduceNodes(model, op, input, output, [2], true);
  model.nodes = model.nodes.filter((x) => x !== scores.matmul && x !== scores.add && x !== scores.softmax);
  const softmax: OnnxNode = { ...scores.softmax, inputs: [v('int8_scores')], raw: undefined };
  model.nodes.push(
    // Every class scored in int8, then its softmax (the graph's own node) and the likeliest classes.
    tensorConstantNode(v('q_weight'), [k, n], DATA_TYPE_INT8, q.values),
    tensorConstantNode(v('q_scale'), [n], DATA_TYPE_FLOAT, q.scales),
    tensorConstantNode(v('q_zero'), [n], DATA_TYPE_INT8, new Int8Array(n)),
    tensorConstantNode(v('bias'), [n], DATA_TYPE_FLOAT, scores.bias),
    makeNode(
      'DynamicQuantizeMatMul',
      [scores.features, v('q_weight'), v('q_scale'), v('q_zero'), v('bias')],
      v('int8_scores'),
      new Map(),
      'com.microsoft',
    ),
    softmax,
    ...topKConstants,
    topK,
    // Their float scores: each one's weight column (a row of Wᵀ) dotted with the step's features.
    tensorConstantNode(v('weight_t'), [n, k], DATA_TYPE_FLOAT, transposed),
    node('Gather', [v('weight_t'), v('top_class')], v('top_weights'), [['axis', intAttribute('axis', 0)]]),
    node('Gather', [v('bias'), v('top_class')], v('top_bias')),
    int64s(v('column_shape'), [0, 0, -1, 1]),
    node('Reshape', [scores.features, v('column_shape')], v('feature_column')),
    node('MatMul', [v('top_weights'), v('feature_column')], v('top_products')),
    int64s(v('step_shape'), [0, 0, -1]),
    node('Reshape', [v('top_products'), v('step_shape')], v('top_unbiased')),
    node('Add', [v('top_unbiased'), v('top_bias')], v('top_scores')),
    // The best of them; its class through a one-hot mask (GatherElements needs opset 11).
    node('ArgMax', [v('top_scores')], v('best_rank'), [
      ['axis', intAttribute('axis', 2)],
      ['keepdims', intAttribute('keepdims', 1)],
    ]),
    int64s(v('depth'), [candidates]),
    tensorConstantNode(v('off_on'), [2], DATA_TYPE_FLOAT, new Float32Array([0, 1])),
    node('OneHot', [v('best_rank'), v('depth'), v('off_on')], v('best_mask_4d'), [['axis', intAttribute('axis', -1)]]),
    node('Reshape', [v('best_mask_4d'), v('step_shape')], v('best_mask')),
    node('Cast', [v('top_class')], v('top_class_float'), [['to', intAttribute('to', DATA_TYPE_FLOAT)]]),
    node('Mul', [v('best_mask'), v('top_class_float')], v('best_class_masked')),
    ...reduceNodes(model, 'ReduceSum', v('best_class_masked'), v('best_class_float'), [2], false),
    node('Cast', [v('best_class_float')], BEST_CLASS_OUTPUT, [['to', intAttribute('to', DATA_TYPE_INT32)]]),
    // Its probability: 1 / (Σ_rescored exp(s − m) + (1 − Σ_rescored P̃) / max P̃).
    ...reduce('ReduceMax', v('top_scores'), v('best_score')),
    node('Sub', [v('top_scores'), v('best_score')], v('top_shifted')),
    node('Exp', [v('top_shifted')], v('top_exp')),
    ...reduce('ReduceSum', v('top_exp'), v('top_exp_sum')),
    ...reduce('ReduceSum', v('top_p'), v('top_p_sum')),
    ...reduce('ReduceMax', v('top_p'), v('top_p_max')),
    floatScalar(v('one'), 1),
    floatScalar(v('zero'), 0),
    node('Sub', [v('one'), v('top_p_sum')], v('rest_p_signed')),
    node('Max', [v('rest_p_signed'), v('zero')], v('rest_p')),
    node('Div', [v('rest_p'), v('top_p_max')], v('rest_exp_sum')),
    node('Add', [v('top_exp_sum'), v('rest_exp_sum')], v('exp_sum')),
    node('Reciprocal', [v('exp_sum')], v('best_probability_3d')),
    int64s(v('probability_shape'), [0, 0]),
    node('Reshape', [v('best_probability_3d'), v('probability_shape')], BEST_PROBABILITY_OUTPUT),
  );
  setGreedyHeadOutputs(model);
  importOpset(model, 'com.microsoft', 1);
  dropUnreadConstants(model);
  return writeModel(model);
}
