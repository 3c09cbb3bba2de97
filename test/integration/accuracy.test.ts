import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { hasInt8DotProduct } from '../../src/engine/runtime/cpu-features.js';
import type { Precision } from '../../src/engine/types.js';
import { mapLimit } from '../../src/shared/map-limit.js';
import { EVAL_DEV, EVAL_REAL } from '../../src/dev/repo-paths.js';
import { evalSet, score, type Predictions } from '../../src/dev/eval-score.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Accuracy over real gRPC on loopback with the real models, scored by the evaluation sets' own
 * scorer. The bounds are the acceptance targets of the held-out set of the same kind. Run with the
 * recognizer as shipped, and in int8 where that is this machine's default.
 */
const precisions: Precision[] = hasInt8DotProduct() ? ['float32', 'int8'] : ['float32'];

for (const recPrecision of precisions)
  describe(`accuracy through the gRPC server, recognizer in ${recPrecision}`, function () {
    this.timeout(600_000);
    let t: TestServer;
    before(async () => (t = await startTestServer({ engine: { recPrecision } })));
    after(async () => t?.stop());

    const read = (f: string): Buffer => readFileSync(f);

    async function throughRecognize(set: string, kinds: ('lines' | 'docs')[]): Promise<Predictions> {
      const { lines, docs } = evalSet(set);
      const pred: Predictions = {};
      if (kinds.includes('lines')) {
        const texts = await mapLimit(lines, 4, async (f) => (await t.client.recognize(read(f))).lines.map((l) => l.text).join(' '));
        pred.lines = Object.fromEntries(lines.map((f, i) => [path.basename(f), texts[i]!]));
      }
      if (kinds.includes('docs')) {
        const texts = await mapLimit(docs, 4, async (f) => (await t.client.recognize(read(f))).lines.map((l) => l.text));
        pred.docs = Object.fromEntries(docs.map((f, i) => [path.basename(f), texts[i]!]));
      }
      return pred;
    }

    async function throughRecognizeLines(set: string): Promise<Predictions> {
      const { lines } = evalSet(set);
      const response = await t.client.recognizeLines(lines.map(read));
      expect(response.results).to.have.length(lines.length);
      response.results.forEach((r) => expect(r.error, r.error?.message).to.equal(undefined));
      return { lines: Object.fromEntries(lines.map((f, i) => [path.basename(f), response.results[i]!.text])) };
    }

    it('development set: documents char F1 ≥ 97.5 %, line images CER ≤ 1.5 % through Recognize', async () => {
      const s = score(await throughRecognize(EVAL_DEV, ['lines', 'docs']), EVAL_DEV);
      expect(s.docs.n).to.equal(evalSet(EVAL_DEV).docs.length);
      expect(s.docs.char_f1).to.be.at.least(0.975);
      expect(s.lines.cer).to.be.at.most(0.015);
    });

    it('development set: line images CER ≤ 0.8 % through RecognizeLines', async () => {
      const s = score(await throughRecognizeLines(EVAL_DEV), EVAL_DEV);
      expect(s.lines.n).to.equal(evalSet(EVAL_DEV).lines.length);
      expect(s.lines.cer).to.be.at.most(0.008);
    });

    it('real-world set (case folded): documents F1 ≥ 97 %, lines CER ≤ 6 % through Recognize', async () => {
      const s = score(await throughRecognize(EVAL_REAL, ['lines', 'docs']), EVAL_REAL, true);
      expect(s.docs.char_f1).to.be.at.least(0.97);
      expect(s.lines.cer).to.be.at.most(0.06);
    });

    it('real-world set (case folded): lines CER ≤ 4 % through RecognizeLines', async () => {
      const s = score(await throughRecognizeLines(EVAL_REAL), EVAL_REAL, true);
      expect(s.lines.cer).to.be.at.most(0.04);
    });
  });
