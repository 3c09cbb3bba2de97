import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import ort from 'onnxruntime-node';
import { absorbInputAffine, scaleConvOutput, simplifyModel, type ConvWeights } from '../../src/engine/onnx-graph/simplify.js';
import { DEFAULT_MANIFEST, loadManifest } from '../../src/engine/runtime/manifest.js';
import { readModel, writeModel } from '../../src/engine/onnx-graph/model.js';

/** Direct 2-D convolution without padding, stride 1, groups as ONNX defines them. */
function conv(x: Float32Array, [c, h, w]: number[], k: ConvWeights, groups: number): Float32Array {
  const [outC, inPerGroup, kh, kw] = k.weight.dims as [number, number, number, number];
  const oh = h! - kh + 1;
  const ow = w! - kw + 1;
  const out = new Float32Array(outC * oh * ow);
  const outPerGroup = outC / groups;
  expect(inPerGroup * groups).to.equal(c);
  for (let o = 0; o < outC; o++) {
    const g = Math.floor(o / outPerGroup);
    for (let y = 0; y < oh; y++) {
      for (let xx = 0; xx < ow; xx++) {
        let sum = k.bias[o]!;
        for (let i = 0; i < inPerGroup; i++) {
          for (let dy = 0; dy < kh; dy++) {
            for (let dx = 0; dx < kw; dx++) {
              const wv = k.weight.data[((o * inPerGroup + i) * kh + dy) * kw + dx]!;
              sum += wv * x[((g * inPerGroup + i) * h! + y + dy) * w! + xx + dx]!;
            }
          }
        }
        out[(o * oh + y) * ow + xx] = sum;
      }
    }
  }
  return out;
}

const seq = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));

describe('graph simplification', () => {
  const weights: ConvWeights = { weight: { dims: [4, 2, 2, 3], data: seq(48, (i) => Math.sin(i) * 0.7) }, bias: seq(4, (i) => i - 1.5) };
  const shape = [4, 5, 6];
  const x = seq(4 * 5 * 6, (i) => Math.cos(i * 0.37) * 3);

  it('scaleConvOutput: conv(x)·s + b is one convolution', () => {
    const [s, b] = [1.7, -0.4];
    const expected = conv(x, shape, weights, 2).map((v) => v * s + b);
    const actual = conv(x, shape, scaleConvOutput(weights, s, b), 2);
    actual.forEach((v, i) => expect(v).to.be.closeTo(expected[i]!, 1e-4));
  });

  it('absorbInputAffine: conv(x·s + b) without padding is one convolution on x, grouped or not', () => {
    const [s, b] = [0.6, 2.5];
    for (const groups of [1, 2]) {
      const w: ConvWeights =
        groups === 1 ? { ...weights, weight: { dims: [4, 4, 2, 3], data: seq(96, (i) => Math.sin(i) * 0.7) } } : weights;
      const expected = conv(
        x.map((v) => v * s + b),
        shape,
        w,
        groups,
      );
      const actual = conv(x, shape, absorbInputAffine(w, s, b), groups);
      actual.forEach((v, i) => expect(v).to.be.closeTo(expected[i]!, 1e-4));
    }
  });

  describe('on the PP-OCRv4 models', function () {
    this.timeout(60_000);
    const manifest = loadManifest(DEFAULT_MANIFEST);
    const cases = [
      { role: 'recognizer', file: manifest.paths.rec, dims: [1, 3, 48, 200] },
      { role: 'detector', file: manifest.paths.det, dims: [1, 3, 160, 224] },
    ];

    for (const { role, file, dims } of cases) {
      it(`${role}: fewer operators, the same outputs`, async () => {
        const original = readFileSync(file);
        const { bytes, report } = simplifyModel(original);
        expect(report.hardSwish).to.be.greaterThan(20);
        expect(report.affineAfterConv).to.be.greaterThan(20);
        expect(report.affineBeforeConv).to.be.greaterThan(5);
        expect(report.affineAsBatchNorm).to.be.greaterThan(5);
        const ops = (b: Uint8Array, types: string[]) => readModel(b).nodes.filter((n) => types.includes(n.opType)).length;
        expect(ops(bytes, ['Clip', 'Div'])).to.be.lessThan(ops(original, ['Clip', 'Div']) - 40);
        expect(ops(bytes, ['Mul', 'Add'])).to.equal(
          ops(original, ['Mul', 'Add']) -
            2 * (report.affineAfterConv + report.affineBeforeConv + report.affineAsBatchNorm) -
            report.hardSwish,
        );
        // Nothing left to rewrite: the passes find their own output clean.
        const again = simplifyModel(bytes).report;
        expect(again).to.deep.equal({ hardSwish: 0, affineAfterConv: 0, affineBeforeConv: 0, affineAsBatchNorm: 0 });

        const input = new ort.Tensor(
          'float32',
          seq(
            dims.reduce((a, b) => a * b),
            (i) => Math.sin(i * 0.013) * 1.5,
          ),
          dims,
        );
        const run = async (model: Uint8Array): Promise<Float32Array> => {
          const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
          const out = await session.run({ [session.inputNames[0]!]: input });
          await session.release();
          return out[session.outputNames[0]!]!.data as Float32Array;
        };
        const [a, b] = [await run(original), await run(bytes)];
        expect(b.length).to.equal(a.length);
        let worst = 0;
        a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]!))));
        expect(worst).to.be.lessThan(1e-4);
      });
    }

    it('writes an unchanged model back byte for byte', () => {
      const original = readFileSync(manifest.paths.rec);
      expect(Buffer.compare(Buffer.from(writeModel(readModel(original))), original)).to.equal(0);
    });
  });
});
