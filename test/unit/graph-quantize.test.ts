import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { buildCharset, ctcGreedyDecode } from '../../src/engine/recognize/ctc.js';
import { BEST_CLASS_OUTPUT, BEST_PROBABILITY_OUTPUT, withGreedyHead } from '../../src/engine/onnx-graph/greedy-head.js';
import { quantizeColumns, quantizeModel } from '../../src/engine/onnx-graph/quantize.js';
import { DEFAULT_MANIFEST, loadManifest, readDictionary } from '../../src/engine/runtime/manifest.js';
import { constantNode, floatAttribute, makeNode, readModel, type OnnxNode } from '../../src/engine/onnx-graph/model.js';
import { toRecognizerBatch } from '../../src/engine/recognize/recognizer.js';
import { readModelFile } from '../../src/engine/onnx-graph/rewrite.js';
import { hasInt8DotProduct } from '../../src/engine/runtime/cpu-features.js';
import { textImage } from '../support/images.js';
import { buildModel } from '../support/onnx-model.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';

function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    row = next;
  }
  return row[y.length]!;
}

describe('int8 quantisation', () => {
  describe('quantizeColumns', () => {
    // [k = 3, n = 3], row-major; the last column is all zero.
    const w = [
      [0.5, -2, 0],
      [-1, 1, 0],
      [0.25, 0.3, 0],
    ];
    const at = (r: number, c: number): number => w[r]![c]!;

    it('scales each column by its largest magnitude and rounds to the nearest step', () => {
      const q = quantizeColumns(3, 3, at, false);
      expect(Array.from(q.scales)).to.deep.equal([1 / 127, 2 / 127, 1].map(Math.fround));
      // Column 0: 0.5·127 = 63.5 → 64, -127, 31.75 → 32; column 1: -127, 63.5 → 64, 19.05 → 19.
      expect(Array.from(q.values)).to.deep.equal([64, -127, 0, -127, 64, 0, 32, 19, 0]);
    });

    it('reconstructs every weight within half a step', () => {
      for (const reduceRange of [false, true]) {
        const q = quantizeColumns(3, 3, at, reduceRange);
        for (let r = 0; r < 3; r++) {
          for (let c = 0; c < 3; c++) expect(q.values[r * 3 + c]! * q.scales[c]!).to.be.closeTo(at(r, c), q.scales[c]! / 2 + 1e-7);
        }
      }
    });

    it('keeps weights within ±63 with reduceRange, for CPUs whose 16-bit sums saturate', () => {
      const q = quantizeColumns(3, 3, at, true);
      expect(Math.max(...Array.from(q.values, Math.abs))).to.equal(63);
    });
  });

  describe('a quantised pointwise convolution followed by hard-swish and a scalar affine', () => {
    const [channels, height, width] = [64, 2, 5];
    // Weights are whole multiples of `step`, each output channel's largest magnitude `range` steps,
    // and the input is whole numbers from 0 to 255: int8 holds both exactly, so the quantised model
    // must compute what the float one does, up to float rounding. The range is the one this CPU's
    // int8 products take (model-cache.ts): 127 where they are summed in 32 bits (VNNI), 63 (reduceRange)
    // where onnxruntime's 16-bit pair sums would saturate on full-range weights.
    const reduceRange = !hasInt8DotProduct();
    const range = reduceRange ? 63 : 127;
    const step = 2 ** -16;
    const weights = Float32Array.from({ length: channels * channels }, (_, i) => {
      const [o, c] = [Math.floor(i / channels), i % channels];
      return (o === c ? range : ((o * 131 + c * 37) % (2 * range + 1)) - range) * step;
    });
    const identity = Float32Array.from({ length: channels * channels }, (_, i) => (Math.floor(i / channels) === i % channels ? 1 : 0));
    const x = Float32Array.from({ length: channels * height * width }, (_, i) => (i * 97) % 256);
    const vector = (name: string, v: number): OnnxNode =>
      constantNode(name, { dims: [channels], data: new Float32Array(channels).fill(v) });
    // first (stays float) → product → x · HardSigmoid(x) → BatchNormalization → last (stays float).
    const model = (scale: number): Uint8Array =>
      buildModel(
        [
          constantNode('identity', { dims: [channels, channels, 1, 1], data: identity }),
          constantNode('w', { dims: [channels, channels, 1, 1], data: weights }),
          constantNode('bias', { dims: [channels], data: Float32Array.from({ length: channels }, (_, i) => (i - 32) * 64 * step) }),
          ...[vector('scale', scale), vector('shift', 0), vector('mean', 0.25), vector('var', 3)],
          makeNode('Conv', ['x', 'identity'], 'first'),
          makeNode('Conv', ['first', 'w', 'bias'], 'product'),
          makeNode(
            'HardSigmoid',
            ['product'],
            'gate',
            new Map([
              ['alpha', floatAttribute('alpha', 1 / 6)],
              ['beta', floatAttribute('beta', 0.5)],
            ]),
          ),
          makeNode('Mul', ['gate', 'product'], 'swish'),
          makeNode(
            'BatchNormalization',
            ['swish', 'scale', 'shift', 'mean', 'var'],
            'affine',
            new Map([['epsilon', floatAttribute('epsilon', 1e-5)]]),
          ),
          makeNode('Conv', ['affine', 'identity'], 'y'),
        ],
        'x',
        'y',
      );
    const run = async (bytes: Uint8Array): Promise<Float32Array> => {
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3 });
      const out = await session.run({ x: new ort.Tensor('float32', x, [1, channels, height, width]) });
      await session.release();
      return out.y!.data as Float32Array;
    };

    for (const { scale, folded } of [
      { scale: 0.7, folded: 1 },
      { scale: -0.7, folded: 0 },
    ]) {
      it(`scale ${scale}: ${folded ? 'the tail runs in NHWC, its scale folded into the weights' : 'a negative scale is left as it was'}; the outputs agree`, async () => {
        const float = model(scale);
        const { bytes, report } = quantizeModel(float, { reduceRange });
        expect(report).to.include({ convs: 1, matmuls: 0, tailsInNhwc: folded });
        const ops = (type: string) => readModel(bytes).nodes.filter((n) => n.opType === type).length;
        expect(ops('BatchNormalization')).to.equal(1 - folded);
        const [expected, actual] = [await run(float), await run(bytes)];
        expect(actual.length).to.equal(expected.length);
        const values = new Set(expected.map((v) => Math.sign(v)));
        expect(values.size, 'the test reaches both signs of the affine output').to.be.greaterThan(1);
        actual.forEach((v, i) => expect(v).to.be.closeTo(expected[i]!, 1e-4));
      });
    }
  });

  describe('on the PP-OCRv4 recognizer', function () {
    this.timeout(60_000);
    const manifest = loadManifest(DEFAULT_MANIFEST);
    const charset = buildCharset(readDictionary(manifest), manifest.rec.blankIndex, manifest.rec.appendSpace);
    const float = readModelFile(manifest.paths.rec, true);

    it('turns the pointwise convolutions and constant MatMuls into DynamicQuantizeMatMul, but the first, the last and the narrow ones', () => {
      const { bytes, report } = quantizeModel(float, { reduceRange: false });
      expect(report.convs).to.be.greaterThan(15);
      expect(report.matmuls).to.be.greaterThan(5);
      expect(report.keptFloat.length).to.be.within(3, 8);
      expect(report.tailsInNhwc).to.be.greaterThan(10);
      const ops = (b: Uint8Array, op: string) => readModel(b).nodes.filter((n) => n.opType === op).length;
      expect(ops(bytes, 'DynamicQuantizeMatMul')).to.equal(report.convs + report.matmuls);
      expect(ops(bytes, 'MatMul')).to.equal(ops(float, 'MatMul') - report.matmuls);
      expect(ops(bytes, 'Conv')).to.equal(ops(float, 'Conv') - report.convs);
    });

    it('reads text lines almost as the float model does: under 3 % of characters differ, confidence within 0.02 on average', async () => {
      const run = async (model: Uint8Array, input: ort.Tensor): Promise<Record<string, ort.Tensor>> => {
        const session = await ort.InferenceSession.create(withGreedyHead(model), { intraOpNumThreads: 1, logSeverityLevel: 3 });
        const out = await session.run({ [session.inputNames[0]!]: input });
        await session.release();
        return out;
      };
      const read = (out: Record<string, ort.Tensor>) => {
        const classes = out[BEST_CLASS_OUTPUT]!;
        const best = { classes: classes.data as Int32Array, probabilities: out[BEST_PROBABILITY_OUTPUT]!.data as Float32Array };
        return ctcGreedyDecode(best, 0, classes.dims[1]!, charset, manifest.rec.blankIndex);
      };
      const lines = [
        await textImage('Invoice No. 2025-0417 total 1,280.50', 720, 48),
        ...readdirSync(path.join(EVAL_DEV, 'lines'))
          .sort()
          .slice(0, 8)
          .map((f) => readFileSync(path.join(EVAL_DEV, 'lines', f))),
      ];
      const inputs = await Promise.all(
        lines.map(async (png) => {
          const meta = await sharp(png).metadata();
          const width = Math.round((meta.width! * 48) / meta.height!);
          const { data } = await sharp(png).removeAlpha().resize(width, 48, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
          const pixels = toRecognizerBatch([{ data, width, height: 48, channels: 3 }], width, 48, true);
          return new ort.Tensor('float32', pixels, [1, 3, 48, width]);
        }),
      );
      const expected = [];
      for (const input of inputs) expected.push(read(await run(float, input)));
      for (const reduceRange of [false, true]) {
        const int8 = quantizeModel(float, { reduceRange }).bytes;
        let [chars, edits, confidenceGap] = [0, 0, 0];
        for (const [i, input] of inputs.entries()) {
          const [a, b] = [expected[i]!, read(await run(int8, input))];
          chars += [...a.text].length;
          edits += editDistance(a.text, b.text);
          confidenceGap += Math.abs(a.confidence - b.confidence) / inputs.length;
        }
        expect(edits / chars, `reduceRange ${reduceRange}: share of characters read differently`).to.be.lessThan(0.03);
        expect(confidenceGap, `reduceRange ${reduceRange}: mean confidence difference`).to.be.lessThan(0.02);
      }
    });
  });
});
