import type { FloatTensor, OnnxModel, OnnxNode } from './model.js';

/** A convolution's weights [out, in/group, kh, kw] and per-output bias. */
export interface ConvWeights {
  weight: FloatTensor;
  bias: Float32Array;
}

/** Who produces and who reads each value of a graph, and its constants: for pattern matching. */
export class GraphIndex {
  readonly producer = new Map<string, OnnxNode>();
  readonly consumers = new Map<string, OnnxNode[]>();

  constructor(
    readonly model: OnnxModel,
    readonly constants: Map<string, FloatTensor>,
  ) {
    for (const node of model.nodes) {
      for (const out of node.outputs) this.producer.set(out, node);
      for (const input of node.inputs) {
        if (!input) continue;
        const list = this.consumers.get(input) ?? [];
        list.push(node);
        this.consumers.set(input, list);
      }
    }
  }

  /** The single node reading `value`, if it is read by exactly one and is no graph output. */
  soleConsumer(value: string, opType: string): OnnxNode | undefined {
    const list = this.consumers.get(value);
    if (!list || list.length !== 1 || this.model.graphOutputs.has(value)) return undefined;
    return list[0]!.opType === opType ? list[0] : undefined;
  }

  /** A one-element constant of rank 0 or 1: broadcasting it never changes another operand's shape. */
  scalar(value: string | undefined): number | undefined {
    const t = value === undefined ? undefined : this.constants.get(value);
    return t && t.data.length === 1 && t.dims.length <= 1 ? t.data[0] : undefined;
  }

  /** The one value every element of a constant holds, if they all hold the same. */
  uniform(value: string | undefined): number | undefined {
    const data = value === undefined ? undefined : this.constants.get(value)?.data;
    return data && data.length > 0 && data.every((v) => v === data[0]) ? data[0] : undefined;
  }

  /** For a binary node with one scalar constant operand: that scalar and the other operand. */
  scalarOperand(node: OnnxNode): { value: number; other: string } | undefined {
    const [a, b] = node.inputs;
    if (a === undefined || b === undefined) return undefined;
    const sb = this.scalar(b);
    if (sb !== undefined) return { value: sb, other: a };
    const sa = this.scalar(a);
    return sa !== undefined ? { value: sa, other: b } : undefined;
  }

  convWeights(conv: OnnxNode): ConvWeights | undefined {
    const weight = this.constants.get(conv.inputs[1] ?? '');
    if (!weight || weight.dims.length !== 4) return undefined;
    const biasName = conv.inputs[2];
    const bias = biasName ? this.constants.get(biasName)?.data : new Float32Array(weight.dims[0]!);
    return bias && bias.length === weight.dims[0] ? { weight, bias } : undefined;
  }
}
