import { expect } from 'chai';
import { cropQuad } from '../../src/engine/recognize/crop.js';
import { buildCharset } from '../../src/engine/recognize/ctc.js';
import { decodeImage } from '../../src/engine/decode/decode.js';
import { withGreedyHead } from '../../src/engine/onnx-graph/greedy-head.js';
import { loadManifest, readDictionary } from '../../src/engine/runtime/manifest.js';
import { Recognizer, toRecognizerBatch } from '../../src/engine/recognize/recognizer.js';
import { readModelFile } from '../../src/engine/onnx-graph/rewrite.js';
import { createSession } from '../../src/engine/runtime/sessions.js';
import type { RawImage } from '../../src/engine/types.js';
import { textImage } from '../support/images.js';

const crop = (width: number, value: number): RawImage => ({
  data: new Uint8Array(width * 2 * 3).fill(value),
  width,
  height: 2,
  channels: 3,
});

describe('recognizer input (toRecognizerBatch)', () => {
  it('normalises to [-1, 1] and pads each row with zeros to the batch width', () => {
    const out = toRecognizerBatch([crop(2, 255), crop(3, 0)], 4, 2, false);
    // Line 0, channel 0, row 0: two pixels of 255 → 1, then padding.
    expect(Array.from(out.subarray(0, 4))).to.deep.equal([1, 1, 0, 0]);
    // Line 1, channel 0, row 0: three pixels of 0 → -1, then padding.
    expect(Array.from(out.subarray(24, 28))).to.deep.equal([-1, -1, -1, 0]);
  });

  it('fills a buffer it is given, zeroing the padding whatever it held', () => {
    const into = new Float32Array(1 * 3 * 2 * 4).fill(7);
    const out = toRecognizerBatch([crop(3, 255)], 4, 2, true, into);
    expect(out).to.equal(into);
    expect(Array.from(out)).to.deep.equal(Array.from(toRecognizerBatch([crop(3, 255)], 4, 2, true)));
  });

  it('refuses a buffer of the wrong size', () => {
    expect(() => toRecognizerBatch([crop(3, 1)], 4, 2, true, new Float32Array(10))).to.throw(/buffer of 10 values for a batch of 24/);
  });
});

describe('Recognizer passes', function () {
  this.timeout(60_000);

  it('reads each of two passes begun together from its own input (the reused buffer is not shared)', async () => {
    const m = loadManifest();
    const session = await createSession(withGreedyHead(readModelFile(m.paths.rec, true, 'float32')), { threads: 1, memArena: true });
    const recognizer = new Recognizer(session, m.rec, buildCharset(readDictionary(m), m.rec.blankIndex, m.rec.appendSpace));
    const line = async (text: string): Promise<RawImage> => {
      const { image } = await decodeImage(await textImage(text));
      return cropQuad(
        image,
        [
          [0, 0],
          [image.width, 0],
          [image.width, image.height],
          [0, image.height],
        ],
        48,
        m.rec.maxWidth,
      );
    };
    const [a, b] = [await line('Total 42.00'), await line('Invoice 7')];
    // The first pass leaves a buffer large enough for both lines to the next.
    const [alone] = await recognizer.recognizeBatch([a], true);
    const [first, second] = await Promise.all([recognizer.recognizeBatch([b], true), recognizer.recognizeBatch([a], true)]);
    expect([alone!.text, first[0]!.text, second[0]!.text]).to.deep.equal(['Total 42.00', 'Invoice 7', 'Total 42.00']);
  });
});
