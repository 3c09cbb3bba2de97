/**
 * Dynamic int8 quantisation of a model's matrix products, applied when a model is loaded: weights
 * become int8 (one scale per output channel), activations are quantised to uint8 on the fly by
 * onnxruntime's DynamicQuantizeMatMul, which runs on the CPU's integer dot-product units.
 *
 * Candidates are pointwise convolutions (a matrix product over channels, run as
 * Transpose → DynamicQuantizeMatMul → Transpose) and MatMuls with a constant 2-D right operand.
 * The first and the last candidate stay in float, the usual exception: the first sees raw pixels'
 * features, the last writes the class scores (the recognizer's rescored greedy head, in
 * rescored-head.ts, takes them to int8 without changing a reading); so do narrow products
 * (MIN_QUANTIZED_INPUTS).
 * On PP-OCRv4's recognizer this shortens every pass against the simplified float graph, with every
 * accuracy figure of eval-dev and eval-real within noise of float; running the hard-swish and
 * affine that follow a product in its NHWC output (SwishAffineTail) shortens it further, as the
 * transpose back then feeds a convolution directly (quantized, below). Figures: docs/BENCHMARKS.md,
 * "Tried and kept".
 */
import { GraphIndex } from './node-index.js';
import {
  DATA_TYPE_FLOAT,
  DATA_TYPE_INT8,
  dropUnreadConstants,
  floatAttribute,
  floatConstants,
  importOpset,
  intsAttribute,
  makeNode,
  readFloatAttribute,
  readIntAttribute,
  readIntsAttribute,
  readModel,
  tensorConstantNode,
  writeModel,
  type FloatTensor,
  type OnnxNode,
} from './model.js';

export interface QuantizeOptions {
  /**
   * Weights in [-63, 63] instead of [-127, 127]. CPUs without VNNI multiply uint8 by int8 into
   * saturating 16-bit sums (vpmaddubsw), which 7-bit weights cannot overflow.
   */
  reduceRange: boolean;
}

export interface QuantizeReport {
  convs: number;
  matmuls: number;
  /** Candidates left in float: the first, the last and those over fewer than MIN_QUANTIZED_INPUTS inputs. */
  keptFloat: string[];
  /** Quantised convolutions whose hard-swish and affine tail run in NHWC, the scale folded in. */
  tailsInNhwc: number;
}

/** A [k, n] matrix as int8 values, row-major, and one scale per column: w ≈ values · scale. */
export interface QuantizedMatrix {
  values: Int8Array;
  scales: Float32Array;
}

/** Symmetric per-column quantisation of the [k, n] matrix `at(row, column)`. */
export function quantizeColumns(k: number, n: number, at: (row: number, column: number) => number, reduceRange: boolean): QuantizedMatrix {
  const limit = reduceRange ? 63 : 127;
  const values = new Int8Array(k * n);
  const scales = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    let max = 0;
    for (let r = 0; r < k; r++) max = Math.max(max, Math.abs(at(r, c)));
    // An all-zero column: any scale reproduces it.
    const scale = max > 0 ? max / limit : 1;
    scales[c] = scale;
    for (let r = 0; r < k; r++) values[r * n + c] = Math.round(at(r, c) / scale);
  }
  return { values, scales };
}

const MS_DOMAIN = 'com.microsoft';

/** A candidate: the node, its weights as a [k, n] matrix, and the bias added to its n outputs. */
interface Candidate {
  node: OnnxNode;
  k: number;
  n: number;
  at: (row: number, column: number) => number;
  bias?: Float32Array;
}

function pointwiseConv(node: OnnxNode, constants: Map<string, FloatTensor>): Candidate | undefined {
  if (node.opType !== 'Conv' || node.domain) return undefined;
  const weight = constants.get(node.inputs[1] ?? '');
  if (!weight || weight.dims.length !== 4 || weight.dims[2] !== 1 || weight.dims[3] !== 1) return undefined;
  if ((readIntAttribute(node, 'group') ?? 1) !== 1) return undefined;
  if (!(readIntsAttribute(node, 'strides') ?? []).every((v) => v === 1)) return undefined;
  if (!(readIntsAttribute(node, 'pads') ?? []).every((v) => v === 0)) return undefined;
  const [n, k] = weight.dims as [number, number];
  const bias = node.inputs[2] ? constants.get(node.inputs[2]) : undefined;
  if (node.inputs[2] && bias?.data.length !== n) return undefined;
  return { node, k, n, at: (r, c) => weight.data[c * k + r]!, bias: bias?.data };
}

function constantMatMul(node: OnnxNode, constants: Map<string, FloatTensor>): Candidate | undefined {
  if (node.opType !== 'MatMul' || node.domain) return undefined;
  const weight = constants.get(node.inputs[1] ?? '');
  if (!weight || weight.dims.length !== 2) return undefined;
  const [k, n] = weight.dims as [number, number];
  return { node, k, n, at: (r, c) => weight.data[r * n + c]! };
}

/**
 * What PP-LCNetV3 puts after a pointwise convolution: hard-swish, x · HardSigmoid(x), then its
 * learnable affine y · s + b, which simplifyModel leaves as a BatchNormalization whose channels all
 * share one scale and shift. Only s > 0 is folded (every block of PP-OCRv4's recognizer).
 */
interface SwishAffineTail {
  gate: OnnxNode;
  product: OnnxNode;
  norm: OnnxNode;
  s: number;
  b: number;
}

function swishAffineTail(index: GraphIndex, output: string): SwishAffineTail | undefined {
  const readers = index.consumers.get(output) ?? [];
  const gate = readers.find((n) => n.opType === 'HardSigmoid' && !n.domain);
  const product = readers.find((n) => n.opType === 'Mul' && !n.domain);
  if (readers.length !== 2 || !gate || !product || index.model.graphOutputs.has(output)) return undefined;
  const operands = new Set(product.inputs);
  if (product.inputs.length !== 2 || !operands.has(output) || !operands.has(gate.outputs[0]!)) return undefined;
  if (index.model.graphOutputs.has(gate.outputs[0]!)) return undefined;
  const norm = index.soleConsumer(product.outputs[0]!, 'BatchNormalization');
  if (!norm || norm.domain || norm.outputs.length !== 1) return undefined;
  const [scale, shift, mean, variance] = norm.inputs.slice(1).map((v) => index.uniform(v));
  if (scale === undefined || shift === undefined || mean === undefined || variance === undefined) return undefined;
  const s = scale / Math.sqrt(variance + (readFloatAttribute(norm, 'epsilon') ?? 1e-5));
  return s > 0 ? { gate, product, norm, s, b: shift - mean * s } : undefined;
}

/** The nodes that replace a candidate, reading its input and writing its output (or its tail's). */
function quantized(c: Candidate, options: QuantizeOptions, tail?: SwishAffineTail): OnnxNode[] {
  const name = c.node.name || c.node.outputs[0]!;
  // The tail's s is folded into the product: W · s, bias · s.
  const s = tail?.s ?? 1;
  const q = quantizeColumns(c.k, c.n, (r, col) => c.at(r, col) * s, options.reduceRange);
  const operands = [
    tensorConstantNode(`${name}.q_weight`, [c.k, c.n], DATA_TYPE_INT8, q.values),
    tensorConstantNode(`${name}.q_scale`, [c.n], DATA_TYPE_FLOAT, q.scales),
    tensorConstantNode(`${name}.q_zero`, [c.n], DATA_TYPE_INT8, new Int8Array(c.n)),
  ];
  if (c.bias)
    operands.push(
      tensorConstantNode(
        `${name}.q_bias`,
        [c.n],
        DATA_TYPE_FLOAT,
        c.bias.map((v) => v * s),
      ),
    );
  const matmul = (input: string, output: string): OnnxNode => ({
    ...makeNode('DynamicQuantizeMatMul', [input, ...operands.map((o) => o.outputs[0]!)], output, new Map(), MS_DOMAIN),
    name: `${name}.q_matmul`,
  });
  if (c.node.opType === 'MatMul') return [...operands, matmul(c.node.inputs[0]!, c.node.outputs[0]!)];
  // NCHW → NHWC, so that channels are the product's inner dimension, and back.
  const transpose = (input: string, output: string, perm: number[]): OnnxNode =>
    makeNode('Transpose', [input], output, new Map([['perm', intsAttribute('perm', perm)]]));
  const before = [...operands, transpose(c.node.inputs[0]!, `${name}.q_nhwc_in`, [0, 2, 3, 1])];
  if (!tail)
    return [
      ...before,
      matmul(`${name}.q_nhwc_in`, `${name}.q_nhwc_out`),
      transpose(`${name}.q_nhwc_out`, c.node.outputs[0]!, [0, 3, 1, 2]),
    ];
  // The tail runs element-wise in NHWC, where the product leaves its output: the transpose back
  // then feeds a convolution directly, and onnxruntime folds it into its NCHWc reorder. The gate
  // reads y = x · s, so its slope is divided by s: y · HardSigmoid(x) = (x · HardSigmoid(x)) · s.
  const alpha = (readFloatAttribute(tail.gate, 'alpha') ?? 0.2) / tail.s;
  const beta = readFloatAttribute(tail.gate, 'beta') ?? 0.5;
  const gateAttributes = new Map([
    ['alpha', floatAttribute('alpha', alpha)],
    ['beta', floatAttribute('beta', beta)],
  ]);
  const out = (suffix: string): string => `${name}.q_nhwc_${suffix}`;
  return [
    ...before,
    matmul(out('in'), out('scaled')),
    makeNode('HardSigmoid', [out('scaled')], out('gate'), gateAttributes),
    makeNode('Mul', [out('scaled'), out('gate')], out('swish')),
    tensorConstantNode(out('shift_value'), [], DATA_TYPE_FLOAT, new Float32Array([tail.b])),
    makeNode('Add', [out('swish'), out('shift_value')], out('affine')),
    transpose(out('affine'), tail.norm.outputs[0]!, [0, 3, 1, 2]),
  ];
}

/**
 * Products over fewer input channels stay in float: they move as many values as they multiply, so
 * int8 arithmetic saves less than the layout changes around DynamicQuantizeMatMul cost: quantising
 * them too made the recognizer's pass slower (docs/BENCHMARKS.md, "Tried and rejected").
 */
export const MIN_QUANTIZED_INPUTS = 64;

/** The same model with its matrix products in int8, as described above. */
export function quantizeModel(bytes: Uint8Array, options: QuantizeOptions): { bytes: Uint8Array; report: QuantizeReport } {
  const model = readModel(bytes);
  const constants = floatConstants(model);
  const candidates = model.nodes.map((node) => pointwiseConv(node, constants) ?? constantMatMul(node, constants));
  const chosen = candidates.filter((c): c is Candidate => c !== undefined);
  const ends = chosen.length > 2 ? [chosen[0]!, chosen[chosen.length - 1]!] : chosen;
  const float = chosen.filter((c) => ends.includes(c) || c.k < MIN_QUANTIZED_INPUTS);
  const report: QuantizeReport = { convs: 0, matmuls: 0, tailsInNhwc: 0, keptFloat: float.map((c) => c.node.name || c.node.outputs[0]!) };
  const replaced = new Set(chosen.filter((c) => !float.includes(c)).map((c) => c.node));
  if (replaced.size === 0) return { bytes, report };
  const index = new GraphIndex(model, constants);
  const tails = new Map<OnnxNode, SwishAffineTail>();
  for (const node of replaced) {
    const tail = node.opType === 'Conv' ? swishAffineTail(index, node.outputs[0]!) : undefined;
    if (tail) tails.set(node, tail);
  }
  const absorbed = new Set([...tails.values()].flatMap((t) => [t.gate, t.product, t.norm]));
  model.nodes = model.nodes.flatMap((node, i) => {
    if (absorbed.has(node)) return [];
    if (!replaced.has(node)) return [node];
    if (node.opType === 'Conv') report.convs++;
    else report.matmuls++;
    return quantized(candidates[i]!, options, tails.get(node));
  });
  report.tailsInNhwc = tails.size;
  importOpset(model, MS_DOMAIN, 1);
  dropUnreadConstants(model);
  return { bytes: writeModel(model), report };
}
