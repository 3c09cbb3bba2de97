import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { BEST_CLASS_OUTPUT, BEST_PROBABILITY_OUTPUT, withGreedyHead } from '../../src/engine/onnx-graph/greedy-head.js';
import { RESCORED_CLASSES, withRescoredGreedyHead } from '../../src/engine/onnx-graph/rescored-head.js';
import { DEFAULT_MANIFEST, loadManifest } from '../../src/engine/runtime/manifest.js';
import { hasInt8DotProduct } from '../../src/engine/runtime/cpu-features.js';
import {
  constantNode,
  DATA_TYPE_FLOAT,
  DATA_TYPE_INT32,
  DATA_TYPE_INT64,
  intAttribute,
  makeNode,
  readModel,
  setGraphOutputs,
  writeModel,
} from '../../src/engine/onnx-graph/model.js';
import { toRecognizerBatch } from '../../src/engine/recognize/recognizer.js';
import { readModelFile } from '../../src/engine/onnx-graph/rewrite.js';
import { buildModel } from '../support/onnx-model.js';
import { EVAL_DEV } from '../../src/dev/repo-paths.js';

/** The int8 scores' own ranking of classes, [lines, steps, RESCORED_CLASSES], as an extra output. */
const INT8_RANKING = 'rescored_head.top_class';

interface HeadOutput {
  classes: Int32Array;
  probabilities: Float32Array;
  int8Ranking?: BigInt64Array;
}

async function runHead(bytes: Uint8Array, input: ort.Tensor, withRanking = false): Promise<HeadOutput> {
  let model = bytes;
  if (withRanking) {
    const edited = readModel(bytes);
    setGraphOutputs(edited, [
      { name: BEST_CLASS_OUTPUT, dataType: DATA_TYPE_INT32 },
      { name: BEST_PROBABILITY_OUTPUT, dataType: DATA_TYPE_FLOAT },
      { name: INT8_RANKING, dataType: DATA_TYPE_INT64 },
    ]);
    model = writeModel(edited);
  }
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const out = await session.run({ [session.inputNames[0]!]: input });
  await session.release();
  return {
    classes: out[BEST_CLASS_OUTPUT]!.data as Int32Array,
    probabilities: out[BEST_PROBABILITY_OUTPUT]!.data as Float32Array,
    int8Ranking: withRanking ? (out[INT8_RANKING]!.data as BigInt64Array) : undefined,
  };
}

/** Steps where the rescored head's class differs from the float head's, and the largest probability gap. */
function compare(float: HeadOutput, rescored: HeadOutput): { classDiffers: number; probabilityGap: number } {
  let [classDiffers, probabilityGap] = [0, 0];
  float.classes.forEach((c, t) => {
    if (rescored.classes[t] !== c) classDiffers++;
    probabilityGap = Math.max(probabilityGap, Math.abs(rescored.probabilities[t]! - float.probabilities[t]!));
  });
  return { classDiffers, probabilityGap };
}

describe('the rescored greedy head (int8 class scores, the likeliest rescored in float)', function () {
  this.timeout(120_000);

  describe('on a small MatMul + Add + Softmax', () => {
    const [lines, steps, features, classes] = [2, 40, 64, 300];
    // Deterministic weights with a few near-duplicate columns, so that int8 rounding has ties to break.
    const weights = Float32Array.from({ length: features * classes }, (_, i) => {
      const [r, c] = [Math.floor(i / classes), i % classes];
      const column = c % 150;
      return Math.sin(r * 1.7 + column * 0.37) * 0.5 + (c >= 150 ? 1e-3 * Math.cos(r) : 0);
    });
    const bias = Float32Array.from({ length: classes }, (_, c) => Math.cos(c * 0.11) * 0.2);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: lines * steps * features }, (_, i) => Math.sin(i * 0.013) * 2),
      [lines, steps, features],
    );
    const model = (opset: number): Uint8Array =>
      buildModel(
        [
          constantNode('w', { dims: [features, classes], data: weights }),
          constantNode('b', { dims: [classes], data: bias }),
          makeNode('MatMul', ['x', 'w'], 'scores'),
          makeNode('Add', ['scores', 'b'], 'biased'),
          makeNode('Softmax', ['biased'], 'y', new Map([['axis', intAttribute('axis', 2)]])),
        ],
        'x',
        'y',
        opset,
      );

    // Opset 9 is PP-OCRv4's; TopK took k as an input from 10, ReduceSum its axes from 13, ReduceMax from 18.
    for (const opset of [9, 13, 18]) {
      it(`opset ${opset}: chooses the float scores' class at every step, with its probability`, async () => {
        const float = await runHead(withGreedyHead(model(opset)), x);
        // The weights' range this CPU's int8 products need (model-cache.ts): full where they are summed
        // in 32 bits (VNNI), 7 bits where onnxruntime's 16-bit pair sums would saturate.
        const rescored = await runHead(withRescoredGreedyHead(model(opset), { reduceRange: !hasInt8DotProduct() }), x, true);
        expect(rescored.classes.length).to.equal(lines * steps);
        const { classDiffers, probabilityGap } = compare(float, rescored);
        expect(classDiffers, 'steps where the class differs').to.equal(0);
        expect(probabilityGap).to.be.lessThan(2e-3);
        const int8First = Array.from(
          rescored.int8Ranking!.filter((_, i) => i % RESCORED_CLASSES === 0),
          Number,
        );
        expect(
          int8First.filter((c, t) => c !== float.classes[t]).length,
          'steps where the int8 scores alone would choose another class (the test must reach them)',
        ).to.be.greaterThan(0);
      });
    }
  });

  describe('on the PP-OCRv4 recognizer', () => {
    const manifest = loadManifest(DEFAULT_MANIFEST);
    const body = readModelFile(manifest.paths.rec, true, 'int8');

    it('reads development line images as the float class scores do, and a synthetic batch of two', async () => {
      const files = readdirSync(path.join(EVAL_DEV, 'lines')).sort().slice(0, 12);
      // The line images' steps are mostly confident; the synthetic batch's are flat, where more of
      // the probability comes from the int8 scores of the classes not rescored.
      const inputs = await Promise.all(
        files.map(async (f) => {
          const png = readFileSync(path.join(EVAL_DEV, 'lines', f));
          const meta = await sharp(png).metadata();
          const width = Math.max(320, Math.round((meta.width! * 48) / meta.height! / 8) * 8);
          const { data } = await sharp(png).removeAlpha().resize(width, 48, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
          const tensor = new ort.Tensor('float32', toRecognizerBatch([{ data, width, height: 48, channels: 3 }], width, 48, true), [
            1,
            3,
            48,
            width,
          ]);
          return { tensor, tolerance: 0.01 };
        }),
      );
      const synthetic = Float32Array.from({ length: 2 * 3 * 48 * 160 }, (_, i) => Math.sin(i * 0.011) * Math.cos(i * 0.0007));
      inputs.push({ tensor: new ort.Tensor('float32', synthetic, [2, 3, 48, 160]), tolerance: 0.03 });
      // Full-range weights only where the CPU sums int8 products in 32 bits, as the engine uses them.
      for (const reduceRange of hasInt8DotProduct() ? [false, true] : [true]) {
        const [floatHead, rescoredHead] = [withGreedyHead(body), withRescoredGreedyHead(body, { reduceRange })];
        let [steps, int8Differs, gapSum] = [0, 0, 0];
        for (const { tensor, tolerance } of inputs) {
          const float = await runHead(floatHead, tensor);
          const rescored = await runHead(rescoredHead, tensor, true);
          const { classDiffers, probabilityGap } = compare(float, rescored);
          expect(classDiffers, `reduceRange ${reduceRange}: steps read differently`).to.equal(0);
          expect(probabilityGap, `reduceRange ${reduceRange}: largest probability gap`).to.be.lessThan(tolerance);
          float.probabilities.forEach((p, t) => (gapSum += Math.abs(rescored.probabilities[t]! - p)));
          steps += float.classes.length;
          float.classes.forEach((c, t) => (int8Differs += Number(rescored.int8Ranking![t * RESCORED_CLASSES]) !== c ? 1 : 0));
        }
        expect(gapSum / steps, `reduceRange ${reduceRange}: mean probability gap`).to.be.lessThan(1e-3);
        expect(int8Differs, `reduceRange ${reduceRange}: steps where the int8 scores alone choose another class`).to.be.greaterThan(0);
      }
    });

    it('refuses a model that does not end in MatMul + Add + Softmax', () => {
      const detector = readModelFile(manifest.paths.det, true);
      expect(() => withRescoredGreedyHead(detector, { reduceRange: false })).to.throw(
        /does not end in MatMul \+ Add \+ Softmax.*--rec-precision float32/,
      );
    });
  });
});
