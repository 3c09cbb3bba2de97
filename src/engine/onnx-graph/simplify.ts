/**
 * Algebraic simplification of PaddleOCR's exported graphs, applied when a model is loaded.
 *
 * Paddle2ONNX writes hard-swish as four element-wise operators (x · clip(x + 3, 0, 6) / 6) and
 * PP-LCNetV3's learnable affine blocks (y · s + b) as a scalar Mul and Add with the constant first,
 * which keeps onnxruntime from fusing them into the convolutions. These operators pass over whole
 * feature maps and cost a large share of both models' time. Affine blocks that cannot be folded
 * become BatchNormalization, which onnxruntime runs inside its blocked NCHWc layout, saving more
 * (figures: docs/BENCHMARKS.md, "Tried and kept"). The rewrites below compute the same function:
 * outputs agree within 2e-6.
 */
import { GraphIndex, type ConvWeights } from './node-index.js';
import {
  constantNode,
  dropUnreadConstants,
  floatAttribute,
  floatConstants,
  readFloatAttribute,
  readIntsAttribute,
  readModel,
  readStringAttribute,
  writeModel,
  type OnnxModel,
  type OnnxNode,
} from './model.js';

export type { ConvWeights } from './node-index.js';

export interface SimplifyReport {
  /** x · clip(x + 3, 0, 6) / 6 → x · HardSigmoid(x). */
  hardSwish: number;
  /** Conv → · s → + b, as one Conv. */
  affineAfterConv: number;
  /** · s → + b → Conv without padding, as one Conv. */
  affineBeforeConv: number;
  /** The remaining · s → + b, as one BatchNormalization. */
  affineAsBatchNorm: number;
}

/** conv(x) · s + b as one convolution: W · s, B · s + b. */
export function scaleConvOutput(conv: ConvWeights, s: number, b: number): ConvWeights {
  return {
    weight: { dims: conv.weight.dims, data: conv.weight.data.map((w) => w * s) },
    bias: conv.bias.map((v) => v * s + b),
  };
}

/**
 * conv(x · s + b) as one convolution on x: W · s, B + b · ΣW over each output's taps. Exact only
 * without padding, where every tap reads a shifted input and none a padded zero.
 */
export function absorbInputAffine(conv: ConvWeights, s: number, b: number): ConvWeights {
  const outputs = conv.weight.dims[0]!;
  const taps = conv.weight.data.length / outputs;
  const bias = conv.bias.slice();
  for (let o = 0; o < outputs; o++) {
    let sum = 0;
    for (let k = 0; k < taps; k++) sum += conv.weight.data[o * taps + k]!;
    bias[o] = bias[o]! + b * sum;
  }
  return { weight: { dims: conv.weight.dims, data: conv.weight.data.map((w) => w * s) }, bias };
}

function clipBounds(index: GraphIndex, clip: OnnxNode): [number | undefined, number | undefined] {
  // Clip took its bounds as attributes before opset 11 and as inputs since.
  if (index.model.opset < 11) return [readFloatAttribute(clip, 'min'), readFloatAttribute(clip, 'max')];
  return [index.scalar(clip.inputs[1]), index.scalar(clip.inputs[2])];
}

function fuseHardSwish(index: GraphIndex, removed: Set<OnnxNode>): number {
  let count = 0;
  for (const div of index.model.nodes) {
    if (div.opType !== 'Div' || index.scalar(div.inputs[1]) !== 6) continue;
    const mul = index.producer.get(div.inputs[0]!);
    if (mul?.opType !== 'Mul' || index.soleConsumer(mul.outputs[0]!, 'Div') !== div) continue;
    const clipAt = mul.inputs.findIndex((v) => index.producer.get(v)?.opType === 'Clip');
    if (clipAt < 0) continue;
    const clip = index.producer.get(mul.inputs[clipAt]!)!;
    const x = mul.inputs[1 - clipAt]!;
    if (index.soleConsumer(clip.outputs[0]!, 'Mul') !== mul) continue;
    const [lo, hi] = clipBounds(index, clip);
    if (lo !== 0 || hi !== 6) continue;
    const add = index.producer.get(clip.inputs[0]!);
    if (add?.opType !== 'Add' || index.soleConsumer(add.outputs[0]!, 'Clip') !== clip) continue;
    const operand = index.scalarOperand(add);
    if (!operand || operand.value !== 3 || operand.other !== x) continue;
    Object.assign(clip, {
      opType: 'HardSigmoid',
      inputs: [x],
      attributes: new Map([
        ['alpha', floatAttribute('alpha', 1 / 6)],
        ['beta', floatAttribute('beta', 0.5)],
      ]),
      raw: undefined,
    });
    Object.assign(mul, { inputs: [x, clip.outputs[0]!], outputs: [div.outputs[0]!], raw: undefined });
    removed.add(add).add(div);
    count++;
  }
  return count;
}

/** `value · s + b` starting at the Mul that reads `value`: the Mul, the Add and the scalars. */
function affineFrom(index: GraphIndex, mul: OnnxNode | undefined) {
  if (!mul) return undefined;
  const scale = index.scalarOperand(mul);
  const add = index.soleConsumer(mul.outputs[0]!, 'Add');
  const shift = add ? index.scalarOperand(add) : undefined;
  if (!scale || !add || !shift || shift.other !== mul.outputs[0]) return undefined;
  return { mul, add, s: scale.value, b: shift.value, input: scale.other };
}

function replaceConvWeights(conv: OnnxNode, weights: ConvWeights, added: OnnxNode[]): void {
  const w = `${conv.name || conv.outputs[0]}.folded_w${added.length}`;
  const b = `${conv.name || conv.outputs[0]}.folded_b${added.length}`;
  added.push(constantNode(w, weights.weight), constantNode(b, { dims: [weights.bias.length], data: weights.bias }));
  conv.inputs = [conv.inputs[0]!, w, b];
  conv.raw = undefined;
}

function foldAffineAfterConv(index: GraphIndex, removed: Set<OnnxNode>, added: OnnxNode[]): number {
  let count = 0;
  for (const conv of index.model.nodes) {
    if (conv.opType !== 'Conv' || conv.domain) continue;
    const weights = index.convWeights(conv);
    const affine = affineFrom(index, index.soleConsumer(conv.outputs[0]!, 'Mul'));
    if (!weights || !affine || affine.input !== conv.outputs[0]) continue;
    replaceConvWeights(conv, scaleConvOutput(weights, affine.s, affine.b), added);
    conv.outputs = [affine.add.outputs[0]!];
    removed.add(affine.mul).add(affine.add);
    count++;
  }
  return count;
}

function unpadded(conv: OnnxNode): boolean {
  const autoPad = readStringAttribute(conv, 'auto_pad');
  if (autoPad !== undefined && autoPad !== 'NOTSET' && autoPad !== 'VALID') return false;
  return (readIntsAttribute(conv, 'pads') ?? []).every((p) => p === 0);
}

function foldAffineBeforeConv(index: GraphIndex, removed: Set<OnnxNode>, added: OnnxNode[]): number {
  let count = 0;
  for (const mul of index.model.nodes) {
    if (mul.opType !== 'Mul') continue;
    const affine = affineFrom(index, mul);
    const conv = affine ? index.soleConsumer(affine.add.outputs[0]!, 'Conv') : undefined;
    const weights =
      conv && !conv.domain && conv.inputs[0] === affine!.add.outputs[0] && unpadded(conv) ? index.convWeights(conv) : undefined;
    if (!affine || !conv || !weights) continue;
    replaceConvWeights(conv, absorbInputAffine(weights, affine.s, affine.b), added);
    conv.inputs[0] = affine.input;
    removed.add(affine.mul).add(affine.add);
    count++;
  }
  return count;
}

/** Output channels of the convolution that `value` comes from through element-wise operators. */
function channelsOf(index: GraphIndex, value: string): number | undefined {
  for (let node = index.producer.get(value); node;) {
    if (node.opType === 'Conv' && !node.domain) return index.constants.get(node.inputs[1] ?? '')?.dims[0];
    if (!['Mul', 'Add', 'HardSigmoid', 'Relu', 'Sigmoid'].includes(node.opType) || node.domain) return undefined;
    const operand = node.inputs.find((v) => !index.constants.has(v));
    node = operand === undefined ? undefined : index.producer.get(operand);
  }
  return undefined;
}

/**
 * A scalar affine that could not be folded (its convolution pads) becomes a BatchNormalization:
 * the same arithmetic, but onnxruntime keeps BatchNormalization in its blocked NCHWc layout (as a
 * depthwise 1×1 convolution), where a scalar Mul and Add each force the tensor out of that layout
 * and back in: four passes over the feature map become one.
 */
function affineAsBatchNorm(index: GraphIndex, removed: Set<OnnxNode>, added: OnnxNode[]): number {
  let count = 0;
  for (const mul of index.model.nodes) {
    if (mul.opType !== 'Mul' || mul.domain) continue;
    const affine = affineFrom(index, mul);
    const channels = affine ? channelsOf(index, affine.input) : undefined;
    if (!affine || !channels) continue;
    const name = mul.name || mul.outputs[0]!;
    const vector = (suffix: string, v: number): string => {
      added.push(constantNode(`${name}.bn_${suffix}`, { dims: [channels], data: new Float32Array(channels).fill(v) }));
      return `${name}.bn_${suffix}`;
    };
    added.push({
      opType: 'BatchNormalization',
      domain: '',
      name: `${name}.bn`,
      inputs: [affine.input, vector('scale', affine.s), vector('shift', affine.b), vector('mean', 0), vector('var', 1)],
      outputs: [affine.add.outputs[0]!],
      // ε = 0 with a variance of 1: (x − 0) / √1 · s + b, exactly.
      attributes: new Map([['epsilon', floatAttribute('epsilon', 0)]]),
    });
    removed.add(affine.mul).add(affine.add);
    count++;
  }
  return count;
}

/** Apply one pass, then drop what it replaced and constants nothing reads any more. */
function runPass(model: OnnxModel, pass: (index: GraphIndex, removed: Set<OnnxNode>, added: OnnxNode[]) => number): number {
  const index = new GraphIndex(model, floatConstants(model));
  const removed = new Set<OnnxNode>();
  const added: OnnxNode[] = [];
  const count = pass(index, removed, added);
  model.nodes = [...added, ...model.nodes.filter((n) => !removed.has(n))];
  dropUnreadConstants(model);
  return count;
}

/** The same model with the rewrites above applied; a model without these patterns comes back as it was. */
export function simplifyModel(bytes: Uint8Array): { bytes: Uint8Array; report: SimplifyReport } {
  const model = readModel(bytes);
  const report: SimplifyReport = {
    hardSwish: runPass(model, fuseHardSwish),
    affineAfterConv: runPass(model, foldAffineAfterConv),
    affineBeforeConv: runPass(model, foldAffineBeforeConv),
    affineAsBatchNorm: runPass(model, affineAsBatchNorm),
  };
  const changed = Object.values(report).some((n) => n > 0);
  return { bytes: changed ? writeModel(model) : bytes, report };
}
