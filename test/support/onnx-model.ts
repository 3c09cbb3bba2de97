/**
 * Small ONNX models built in tests, for rewrites whose effect must be checked exactly: one float
 * input and one float output, any shape; nodes as onnx-graph describes them.
 */
import {
  DATA_TYPE_FLOAT,
  GRAPH_INPUT,
  GRAPH_OUTPUT,
  MODEL_GRAPH,
  MODEL_OPSET_IMPORT,
  OPSET_VERSION,
  readModel,
  tensorValueInfo,
  writeModel,
  type OnnxNode,
} from '../../src/engine/onnx-graph/model.js';
import { bytesField, encodeFields, stringField, varintField } from '../../src/engine/onnx-graph/protobuf-wire.js';

// Fields of onnx.proto that the engine never writes.
const MODEL_IR_VERSION = 1;
const GRAPH_NAME = 2;

/** A model of the default ONNX domain at `opset` reading `input` and handing out `output`. */
export function buildModel(nodes: OnnxNode[], input: string, output: string, opset = 13): Uint8Array {
  const graph = encodeFields([
    stringField(GRAPH_NAME, 'test'),
    tensorValueInfo(GRAPH_INPUT, input, DATA_TYPE_FLOAT),
    tensorValueInfo(GRAPH_OUTPUT, output, DATA_TYPE_FLOAT),
  ]);
  const bytes = encodeFields([
    varintField(MODEL_IR_VERSION, 8),
    bytesField(MODEL_OPSET_IMPORT, encodeFields([varintField(OPSET_VERSION, opset)])),
    bytesField(MODEL_GRAPH, graph),
  ]);
  const model = readModel(bytes);
  model.nodes = nodes;
  return writeModel(model);
}
