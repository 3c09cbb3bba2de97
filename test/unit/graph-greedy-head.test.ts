import { expect } from 'chai';
import ort from 'onnxruntime-node';
import { BEST_CLASS_OUTPUT, BEST_PROBABILITY_OUTPUT, withGreedyHead } from '../../src/engine/onnx-graph/greedy-head.js';
import { DEFAULT_MANIFEST, loadManifest } from '../../src/engine/runtime/manifest.js';
import { readModelFile } from '../../src/engine/onnx-graph/rewrite.js';

describe('the recognizer greedy head', function () {
  this.timeout(60_000);
  const manifest = loadManifest(DEFAULT_MANIFEST);
  const model = readModelFile(manifest.paths.rec, true);

  it("gives each step's most likely class and probability, as a scan of the probabilities does", async () => {
    // Two lines in a batch, 48×160 each: 20 steps of 6625 classes.
    const dims = [2, 3, 48, 160];
    const input = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 3 * 48 * 160 }, (_, i) => Math.sin(i * 0.011) * Math.cos(i * 0.0007)),
      dims,
    );
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3 });
      const out = await session.run({ [session.inputNames[0]!]: input });
      await session.release();
      return out;
    };
    const plain = Object.values(await run(model))[0]!;
    const [lines, steps, classes] = plain.dims as [number, number, number];
    const probs = plain.data as Float32Array;
    const head = await run(withGreedyHead(model));
    const best = head[BEST_CLASS_OUTPUT]!;
    const bestP = head[BEST_PROBABILITY_OUTPUT]!;
    expect(best.type).to.equal('int32');
    expect(best.dims).to.deep.equal([lines, steps]);
    expect(bestP.dims).to.deep.equal([lines, steps]);
    for (let t = 0; t < lines * steps; t++) {
      let c = 0;
      for (let k = 1; k < classes; k++) if (probs[t * classes + k]! > probs[t * classes + c]!) c = k;
      expect(best.data[t], `step ${t}`).to.equal(c);
      expect(bestP.data[t], `step ${t}`).to.equal(probs[t * classes + c]);
    }
  });

  it('refuses a model that does not have exactly one output', () => {
    expect(() => withGreedyHead(withGreedyHead(model))).to.throw(/one output; this model has 2/);
  });
});
