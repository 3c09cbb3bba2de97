/**
 * Small ONNX models built in tests, for rewrites whose effect must be checked exactly: one float
 * input and one float output, any shape; nodes as onnx-graph describes them.
 */
import { DATA_TYPE_FLOAT, readModel, writeModel, type OnnxNode } from '../../src/engine/onnx-graph.js';
import { bytesField, encodeFields, stringField, varintField } from '../../src/engine/protobuf-wire.js';

// Field numbers from onnx.proto.
const MODEL_IR_VERSION = 1;
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const OPSET_VERSION = 2;
const GRAPH_NAME = 2;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM_TYPE = 1;

function floatValueInfo(field: number, name: string) {
  const type = encodeFields([bytesField(TYPE_TENSOR, encodeFields([varintField(TENSOR_TYPE_ELEM_TYPE, DATA_TYPE_FLOAT)]))]);
  return bytesField(field, encodeFields([stringField(VALUE_INFO_NAME, name), bytesField(VALUE_INFO_TYPE, type)]));
}

/** A model of the default ONNX domain at `opset` reading `input` and handing out `output`. */
export function buildModel(nodes: OnnxNode[], input: string, output: string, opset = 13): Uint8Array {
  const graph = encodeFields([stringField(GRAPH_NAME, 'test'), floatValueInfo(GRAPH_INPUT, input), floatValueInfo(GRAPH_OUTPUT, output)]);
  const bytes = encodeFields([
    varintField(MODEL_IR_VERSION, 8),
    bytesField(MODEL_OPSET_IMPORT, encodeFields([varintField(OPSET_VERSION, opset)])),
    bytesField(MODEL_GRAPH, graph),
  ]);
  const model = readModel(bytes);
  model.nodes = nodes;
  return writeModel(model);
}
