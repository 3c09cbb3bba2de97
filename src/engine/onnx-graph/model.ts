/**
 * An ONNX model's main graph as a list of nodes that can be edited, read and written through the
 * wire format: nodes left alone are written back as they were read, and so is everything else in
 * the model (weights in initializers, metadata, value infos).
 */
import { topologicalOrder } from './topological-order.js';
import {
  bytesField,
  decodeFields,
  encodeFields,
  float32Field,
  float32Value,
  stringField,
  stringValue,
  varintField,
  varintValue,
  varintValues,
  type Field,
} from './protobuf-wire.js';

// Field numbers from onnx.proto (those exported also build small models in tests).
export const MODEL_OPSET_IMPORT = 8;
export const MODEL_GRAPH = 7;
const OPSET_DOMAIN = 1;
export const OPSET_VERSION = 2;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM_TYPE = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const NODE_DOMAIN = 7;
const ATTR_NAME = 1;
const ATTR_F = 2;
const ATTR_I = 3;
const ATTR_S = 4;
const ATTR_T = 5;
const ATTR_G = 6;
const ATTR_INTS = 8;
const ATTR_GRAPHS = 11;
const ATTR_TYPE = 20;
const ATTR_TYPE_FLOAT = 1;
const ATTR_TYPE_INT = 2;
const ATTR_TYPE_TENSOR = 4;
const ATTR_TYPE_INTS = 7;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_FLOAT_DATA = 4;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const TENSOR_DATA_LOCATION = 14;
export const DATA_TYPE_FLOAT = 1;
export const DATA_TYPE_INT8 = 3;
export const DATA_TYPE_INT32 = 6;
export const DATA_TYPE_INT64 = 7;
const DATA_LOCATION_EXTERNAL = 1;

export interface OnnxNode {
  opType: string;
  /** "" for the default ONNX domain. */
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  /** Each attribute's AttributeProto fields, by name. */
  attributes: Map<string, Field[]>;
  /** The node's bytes as read; absent once built or changed, so that it is encoded afresh. */
  raw?: Uint8Array;
}

export interface FloatTensor {
  dims: number[];
  data: Float32Array;
}

export interface OnnxModel {
  /** The model's fields; the graph among them is rebuilt from `nodes` on writing. */
  fields: Field[];
  /** The graph's fields other than its nodes. */
  graphFields: Field[];
  nodes: OnnxNode[];
  /** Opset of the default domain: some operators changed their signature across versions. */
  opset: number;
  /** Values the graph hands out: never removed. */
  graphOutputs: Set<string>;
}

function readNode(raw: Uint8Array): OnnxNode {
  const node: OnnxNode = { opType: '', domain: '', name: '', inputs: [], outputs: [], attributes: new Map(), raw };
  for (const f of decodeFields(raw)) {
    if (f.no === NODE_INPUT) node.inputs.push(stringValue(f));
    else if (f.no === NODE_OUTPUT) node.outputs.push(stringValue(f));
    else if (f.no === NODE_NAME) node.name = stringValue(f);
    else if (f.no === NODE_OP_TYPE) node.opType = stringValue(f);
    else if (f.no === NODE_DOMAIN) node.domain = stringValue(f);
    else if (f.no === NODE_ATTRIBUTE) {
      const attr = decodeFields(f.data);
      const name = attr.find((a) => a.no === ATTR_NAME);
      if (name) node.attributes.set(stringValue(name), attr);
    }
  }
  return node;
}

function writeNode(node: OnnxNode): Uint8Array {
  if (node.raw) return node.raw;
  const fields: Field[] = [
    ...node.inputs.map((s) => stringField(NODE_INPUT, s)),
    ...node.outputs.map((s) => stringField(NODE_OUTPUT, s)),
    stringField(NODE_NAME, node.name),
    stringField(NODE_OP_TYPE, node.opType),
    ...[...node.attributes.values()].map((attr) => bytesField(NODE_ATTRIBUTE, encodeFields(attr))),
  ];
  if (node.domain) fields.push(stringField(NODE_DOMAIN, node.domain));
  return encodeFields(fields);
}

export function readModel(bytes: Uint8Array): OnnxModel {
  const fields = decodeFields(bytes);
  const graph = fields.find((f) => f.no === MODEL_GRAPH);
  if (!graph) throw new Error('not an ONNX model: it has no graph');
  let opset = 0;
  for (const f of fields) {
    if (f.no !== MODEL_OPSET_IMPORT) continue;
    const entry = decodeFields(f.data);
    const domain = entry.find((e) => e.no === OPSET_DOMAIN);
    const version = entry.find((e) => e.no === OPSET_VERSION);
    const name = domain ? stringValue(domain) : '';
    if ((name === '' || name === 'ai.onnx') && version) opset = varintValue(version);
  }
  const graphFields: Field[] = [];
  const nodes: OnnxNode[] = [];
  const graphOutputs = new Set<string>();
  for (const f of decodeFields(graph.data)) {
    if (f.no === GRAPH_NODE) {
      nodes.push(readNode(f.data));
      continue;
    }
    graphFields.push(f);
    if (f.no === GRAPH_OUTPUT) {
      const name = decodeFields(f.data).find((v) => v.no === VALUE_INFO_NAME);
      if (name) graphOutputs.add(stringValue(name));
    }
  }
  return { fields, graphFields, nodes, opset, graphOutputs };
}

/** The name of a graph's input or initializer (a value its nodes may read), else undefined. */
function declaredName(f: Field): string | undefined {
  const nameField = f.no === GRAPH_INPUT ? VALUE_INFO_NAME : f.no === GRAPH_INITIALIZER ? TENSOR_NAME : undefined;
  const name = nameField === undefined ? undefined : decodeFields(f.data).find((v) => v.no === nameField);
  return name ? stringValue(name) : undefined;
}

/** Values from enclosing graphs that the subgraphs of `node` (If branches, Loop and Scan bodies) read. */
function outerReads(node: OnnxNode): string[] {
  const reads: string[] = [];
  for (const attr of node.attributes.values()) {
    for (const f of attr) {
      if (f.no !== ATTR_G && f.no !== ATTR_GRAPHS) continue;
      const defined = new Set<string>();
      const inner: string[] = [];
      for (const g of decodeFields(f.data)) {
        if (g.no === GRAPH_NODE) {
          const n = readNode(g.data);
          inner.push(...n.inputs, ...outerReads(n));
          n.outputs.forEach((out) => defined.add(out));
        } else {
          const name = declaredName(g);
          if (name !== undefined) defined.add(name);
        }
      }
      reads.push(...inner.filter((v) => v !== '' && !defined.has(v)));
    }
  }
  return reads;
}

/** The model's bytes, its nodes in topological order (topological-order.ts). */
export function writeModel(model: OnnxModel): Uint8Array {
  const nodes = topologicalOrder(model.nodes, outerReads);
  const graph = encodeFields([...nodes.map((n) => bytesField(GRAPH_NODE, writeNode(n))), ...model.graphFields]);
  return encodeFields(model.fields.map((f) => (f.no === MODEL_GRAPH ? bytesField(MODEL_GRAPH, graph) : f)));
}

/** A float tensor's values, or null for other types and external data. */
export function readFloatTensor(bytes: Uint8Array): FloatTensor | null {
  const fields = decodeFields(bytes);
  const type = fields.find((f) => f.no === TENSOR_DATA_TYPE);
  const location = fields.find((f) => f.no === TENSOR_DATA_LOCATION);
  if (!type || varintValue(type) !== DATA_TYPE_FLOAT) return null;
  if (location && varintValue(location) === DATA_LOCATION_EXTERNAL) return null;
  const dims = varintValues(fields, TENSOR_DIMS);
  const raw = fields.find((f) => f.no === TENSOR_RAW_DATA);
  let data: Float32Array;
  if (raw) {
    // Copied (also out of a Node Buffer, whose slice() is a view): the payload need not be aligned.
    data = new Float32Array(new Uint8Array(raw.data).buffer);
  } else {
    const values: number[] = [];
    for (const f of fields) {
      if (f.no !== TENSOR_FLOAT_DATA) continue;
      // Packed (the usual form) or one fixed32 field per value.
      const view = new DataView(f.data.buffer, f.data.byteOffset, f.data.byteLength);
      for (let i = 0; i + 4 <= f.data.length; i += 4) values.push(view.getFloat32(i, true));
    }
    data = Float32Array.from(values);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  return data.length === count ? { dims, data } : null;
}

/** Every float constant of the graph by name: Constant nodes' values and initializers. */
export function floatConstants(model: OnnxModel): Map<string, FloatTensor> {
  const out = new Map<string, FloatTensor>();
  for (const node of model.nodes) {
    const value = node.opType === 'Constant' ? node.attributes.get('value')?.find((f) => f.no === ATTR_T) : undefined;
    const tensor = value ? readFloatTensor(value.data) : null;
    if (tensor) out.set(node.outputs[0]!, tensor);
  }
  for (const f of model.graphFields) {
    if (f.no !== GRAPH_INITIALIZER) continue;
    const tensor = readFloatTensor(f.data);
    const name = decodeFields(f.data).find((t) => t.no === TENSOR_NAME);
    if (tensor && name) out.set(stringValue(name), tensor);
  }
  return out;
}

/** A node with one output, named after that output. */
export function makeNode(
  opType: string,
  inputs: string[],
  output: string,
  attributes: OnnxNode['attributes'] = new Map(),
  domain = '',
): OnnxNode {
  return { opType, domain, name: output, inputs, outputs: [output], attributes };
}

/** A Constant node holding little-endian values of the ONNX data type `dataType`. */
export function tensorConstantNode(output: string, dims: readonly number[], dataType: number, values: ArrayBufferView): OnnxNode {
  const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const tensor = encodeFields([
    ...dims.map((d) => varintField(TENSOR_DIMS, d)),
    varintField(TENSOR_DATA_TYPE, dataType),
    bytesField(TENSOR_RAW_DATA, raw),
  ]);
  const value = [stringField(ATTR_NAME, 'value'), bytesField(ATTR_T, tensor), varintField(ATTR_TYPE, ATTR_TYPE_TENSOR)];
  return { opType: 'Constant', domain: '', name: output, inputs: [], outputs: [output], attributes: new Map([['value', value]]) };
}

export function constantNode(output: string, tensor: FloatTensor): OnnxNode {
  return tensorConstantNode(output, tensor.dims, DATA_TYPE_FLOAT, tensor.data);
}

export function intsAttribute(name: string, values: readonly number[]): Field[] {
  return [stringField(ATTR_NAME, name), ...values.map((v) => varintField(ATTR_INTS, v)), varintField(ATTR_TYPE, ATTR_TYPE_INTS)];
}

/** Declare an operator set the model's nodes use, if the model does not already import it. */
export function importOpset(model: OnnxModel, domain: string, version: number): void {
  const imported = model.fields.some(
    (f) => f.no === MODEL_OPSET_IMPORT && decodeFields(f.data).some((e) => e.no === OPSET_DOMAIN && stringValue(e) === domain),
  );
  if (!imported)
    model.fields.push(
      bytesField(MODEL_OPSET_IMPORT, encodeFields([stringField(OPSET_DOMAIN, domain), varintField(OPSET_VERSION, version)])),
    );
}

/**
 * Drop Constant nodes and initializers that no node reads any more (onnxruntime would warn about
 * each); graph inputs and outputs are kept, and so is what a subgraph reads.
 */
export function dropUnreadConstants(model: OnnxModel): void {
  const read = new Set(model.nodes.flatMap((n) => [...n.inputs, ...outerReads(n)]));
  const keep = (name: string): boolean => read.has(name) || model.graphOutputs.has(name);
  model.nodes = model.nodes.filter((n) => n.opType !== 'Constant' || keep(n.outputs[0]!));
  const graphInputs = new Set(model.graphFields.filter((f) => f.no === GRAPH_INPUT).map(declaredName));
  model.graphFields = model.graphFields.filter((f) => {
    if (f.no !== GRAPH_INITIALIZER) return true;
    const name = declaredName(f);
    return name === undefined || keep(name) || graphInputs.has(name);
  });
}

export function intAttribute(name: string, value: number): Field[] {
  return [stringField(ATTR_NAME, name), varintField(ATTR_I, value), varintField(ATTR_TYPE, ATTR_TYPE_INT)];
}

/**
 * A graph input or output (`field`: GRAPH_INPUT or GRAPH_OUTPUT): a tensor of an ONNX element type,
 * of the shape whose TensorShapeProto.Dimension messages are `dims` (unset: any shape, which ONNX's
 * checker refuses for the graph's own inputs and outputs).
 */
export function tensorValueInfo(field: number, name: string, dataType: number, dims?: readonly Uint8Array[]): Field {
  const shape = dims ? [bytesField(TENSOR_TYPE_SHAPE, encodeFields(dims.map((d) => bytesField(SHAPE_DIM, d))))] : [];
  const tensorType = encodeFields([varintField(TENSOR_TYPE_ELEM_TYPE, dataType), ...shape]);
  const type = encodeFields([bytesField(TYPE_TENSOR, tensorType)]);
  return bytesField(field, encodeFields([stringField(VALUE_INFO_NAME, name), bytesField(VALUE_INFO_TYPE, type)]));
}

/** The Dimension messages of a graph output's shape, undefined where it declares none. */
export function graphOutputDims(model: OnnxModel, name: string): Uint8Array[] | undefined {
  const sub = (fields: Field[] | undefined, no: number): Field[] | undefined => {
    const f = fields?.find((x) => x.no === no);
    return f ? decodeFields(f.data) : undefined;
  };
  for (const f of model.graphFields) {
    if (f.no !== GRAPH_OUTPUT) continue;
    const info = decodeFields(f.data);
    const infoName = info.find((v) => v.no === VALUE_INFO_NAME);
    if (!infoName || stringValue(infoName) !== name) continue;
    const shape = sub(sub(sub(info, VALUE_INFO_TYPE), TYPE_TENSOR), TENSOR_TYPE_SHAPE);
    return shape?.filter((d) => d.no === SHAPE_DIM).map((d) => d.data);
  }
  return undefined;
}

/** Make these tensors, of the given ONNX element types and shapes (tensorValueInfo), the graph's outputs in place of its own. */
export function setGraphOutputs(
  model: OnnxModel,
  outputs: readonly { name: string; dataType: number; dims?: readonly Uint8Array[] }[],
): void {
  const infos = outputs.map((o) => tensorValueInfo(GRAPH_OUTPUT, o.name, o.dataType, o.dims));
  model.graphFields = [...model.graphFields.filter((f) => f.no !== GRAPH_OUTPUT), ...infos];
  model.graphOutputs = new Set(outputs.map((o) => o.name));
}

export function floatAttribute(name: string, value: number): Field[] {
  return [stringField(ATTR_NAME, name), float32Field(ATTR_F, value), varintField(ATTR_TYPE, ATTR_TYPE_FLOAT)];
}

export function readFloatAttribute(node: OnnxNode, name: string): number | undefined {
  const f = node.attributes.get(name)?.find((a) => a.no === ATTR_F);
  return f ? float32Value(f) : undefined;
}

export function readIntAttribute(node: OnnxNode, name: string): number | undefined {
  const f = node.attributes.get(name)?.find((a) => a.no === ATTR_I);
  return f ? varintValue(f) : undefined;
}

export function readIntsAttribute(node: OnnxNode, name: string): number[] | undefined {
  const attr = node.attributes.get(name);
  return attr ? varintValues(attr, ATTR_INTS) : undefined;
}

export function readStringAttribute(node: OnnxNode, name: string): string | undefined {
  const f = node.attributes.get(name)?.find((a) => a.no === ATTR_S);
  return f ? stringValue(f) : undefined;
}

/**
 * The reduction `op` (ReduceMax, ReduceSum, …) of `input` over `axes`, written for the model's
 * opset: the axes moved from an attribute to an input, for ReduceSum at opset 13 and for the
 * others at 18.
 */
export function reduceNodes(
  model: OnnxModel,
  op: string,
  input: string,
  output: string,
  axes: readonly number[],
  keepdims: boolean,
): OnnxNode[] {
  const node = makeNode(op, [input], output, new Map([['keepdims', intAttribute('keepdims', keepdims ? 1 : 0)]]));
  if (model.opset < (op === 'ReduceSum' ? 13 : 18)) {
    node.attributes.set('axes', intsAttribute('axes', axes));
    return [node];
  }
  const axesName = `${output}.axes`;
  node.inputs.push(axesName);
  return [tensorConstantNode(axesName, [axes.length], DATA_TYPE_INT64, new BigInt64Array(axes.map(BigInt))), node];
}
