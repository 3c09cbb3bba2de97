import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import {
  DATA_TYPE_FLOAT,
  GRAPH_INPUT,
  GRAPH_OUTPUT,
  makeNode,
  readModel,
  tensorValueInfo,
  writeModel,
  type OnnxNode,
} from '../../src/engine/onnx-graph/model.js';
import {
  bytesField,
  decodeFields,
  encodeFields,
  stringField,
  stringValue,
  varintField,
} from '../../src/engine/onnx-graph/protobuf-wire.js';
import { topologicalOrder } from '../../src/engine/onnx-graph/topological-order.js';
import { DEFAULT_MANIFEST, loadManifest } from '../../src/engine/runtime/manifest.js';
import { prepareEngineModels } from '../../src/engine/runtime/model-cache.js';
import { buildModel } from '../support/onnx-model.js';

// Fields of onnx.proto: ModelProto.graph, GraphProto.node / initializer, TensorProto.name, ValueInfoProto.name.
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const TENSOR_NAME = 8;
const VALUE_INFO_NAME = 1;

/**
 * What ONNX's checker asks of the order: each node's inputs are graph inputs, initializers, empty
 * (an omitted optional input) or outputs of a node before it. The inputs that are not, as "node: input".
 */
function readBeforeWritten(bytes: Uint8Array): string[] {
  const graph = decodeFields(decodeFields(bytes).find((f) => f.no === MODEL_GRAPH)!.data);
  const available = new Set(['']);
  for (const f of graph) {
    const nameField = f.no === GRAPH_INPUT ? VALUE_INFO_NAME : f.no === GRAPH_INITIALIZER ? TENSOR_NAME : undefined;
    const name = nameField === undefined ? undefined : decodeFields(f.data).find((v) => v.no === nameField);
    if (name) available.add(stringValue(name));
  }
  const early: string[] = [];
  for (const node of readModel(bytes).nodes) {
    for (const input of node.inputs) if (!available.has(input)) early.push(`${node.name || node.outputs[0]}: ${input}`);
    node.outputs.forEach((out) => available.add(out));
  }
  return early;
}

/** Each node's bytes as stored, sorted: equal for two graphs that hold the same nodes in any order. */
function nodeSet(bytes: Uint8Array): string[] {
  const graph = decodeFields(decodeFields(bytes).find((f) => f.no === MODEL_GRAPH)!.data);
  return graph
    .filter((f) => f.no === GRAPH_NODE)
    .map((f) => Buffer.from(f.data).toString('base64'))
    .sort();
}

const names = (nodes: readonly OnnxNode[]): string[] => nodes.map((n) => n.name);

describe('topological order of a graph', () => {
  const relu = (input: string, output: string): OnnxNode => makeNode('Relu', [input], output);

  it('puts each node after the nodes whose outputs it reads, the rest in their order', () => {
    const nodes = [relu('b', 'c'), relu('x', 'a'), relu('a', 'b'), relu('x', 'd')];
    expect(names(topologicalOrder(nodes))).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('leaves a graph already in order as it is', () => {
    const nodes = [relu('x', 'd'), relu('x', 'a'), relu('a', 'b'), relu('d', 'c'), makeNode('Add', ['b', 'c'], 'e')];
    expect(topologicalOrder(nodes)).to.deep.equal(nodes);
  });

  it('is held back by no graph input, initializer, omitted input or value no node produces', () => {
    const clip = makeNode('Clip', ['a', '', 'max_initializer'], 'c');
    const nodes = [clip, relu('x', 'a'), makeNode('Add', ['x', 'unknown'], 'u')];
    expect(names(topologicalOrder(nodes))).to.deep.equal(['a', 'c', 'u']);
  });

  it('refuses a cycle, naming a node on it', () => {
    expect(() => topologicalOrder([relu('x', 'a'), relu('c', 'b'), relu('b', 'c')])).to.throw(/cycle: node (b|c) \(Relu\)/);
  });

  it('writeModel orders nodes by what their subgraphs read from outside too', () => {
    // If's branch reads `late`, produced by a node written after the If.
    const branch = (name: string): Uint8Array =>
      encodeFields([
        bytesField(GRAPH_NODE, encodeFields([stringField(1, 'late'), stringField(2, `${name}_out`), stringField(4, 'Identity')])),
        stringField(2, name),
        tensorValueInfo(GRAPH_OUTPUT, `${name}_out`, DATA_TYPE_FLOAT),
      ]);
    const graphAttribute = (name: string) => [stringField(1, name), bytesField(6, branch(name)), varintField(20, 5)];
    const cond = makeNode('Cast', ['x'], 'cond', new Map([['to', [stringField(1, 'to'), varintField(3, 9), varintField(20, 2)]]]));
    const ifNode = makeNode(
      'If',
      ['cond'],
      'y',
      new Map([
        ['then_branch', graphAttribute('then_branch')],
        ['else_branch', graphAttribute('else_branch')],
      ]),
    );
    const bytes = buildModel([ifNode, relu('x', 'late'), cond], 'x', 'y');
    expect(names(readModel(bytes).nodes)).to.deep.equal(['late', 'cond', 'y']);
    expect(readBeforeWritten(bytes)).to.deep.equal([]);
  });

  describe("on the engine's rewritten models", function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-topo-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const manifest = loadManifest(DEFAULT_MANIFEST);
    const cached = async (recPrecision: 'float32' | 'int8') => {
      const { models } = await prepareEngineModels(manifest, { simplify: true, recPrecision, cacheDir: dir }, { strict: true });
      return { det: models.det.cached!, cls: models.cls!.cached!, rec: models.rec.cached! };
    };

    it('det, cls, rec in float32 and in int8: every node reads only what exists before it', async () => {
      const float = await cached('float32');
      const files = { det: float.det, cls: float.cls, 'rec float32': float.rec, 'rec int8': (await cached('int8')).rec };
      for (const [role, file] of Object.entries(files)) {
        const bytes = readFileSync(file);
        expect(readBeforeWritten(bytes), role).to.deep.equal([]);
        // Written again, unchanged: the order is stable, and nothing else moves.
        expect(Buffer.compare(Buffer.from(writeModel(readModel(bytes))), bytes), role).to.equal(0);
      }
    });

    it('a recognizer with its nodes reversed comes back in order, with the same nodes', async () => {
      const bytes = readFileSync((await cached('int8')).rec);
      const model = readModel(bytes);
      model.nodes.reverse();
      const written = writeModel(model);
      expect(readBeforeWritten(written)).to.deep.equal([]);
      expect(nodeSet(written)).to.deep.equal(nodeSet(bytes));
    });
  });
});
