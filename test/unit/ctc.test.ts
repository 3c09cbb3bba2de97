import { expect } from 'chai';
import { buildCharset, ctcGreedyDecode, type StepBest } from '../../src/engine/recognize/ctc.js';

/** [class, probability] per step → the greedy head's two outputs, as the recognizer returns them. */
function steps(rows: [number, number][]): StepBest {
  return { classes: Int32Array.from(rows.map((r) => r[0])), probabilities: Float32Array.from(rows.map((r) => r[1])) };
}

describe('CTC greedy decoding', () => {
  const charset = ['', 'a', 'b', ' '];

  it('collapses repeats and drops blanks', () => {
    const best = steps([
      [1, 0.8], // a
      [1, 0.7], // a (repeat)
      [0, 0.9], // blank
      [1, 0.6], // a again after a blank: a new character
      [2, 0.7], // b
    ]);
    const d = ctcGreedyDecode(best, 0, 5, charset, 0);
    expect(d.text).to.equal('aab');
    // Confidence: mean of the emitted characters' maxima (0.8, 0.6, 0.7), repeats not counted.
    expect(d.confidence).to.be.closeTo((0.8 + 0.6 + 0.7) / 3, 1e-6);
  });

  it('reads a sequence at an offset (the n-th line of a batch)', () => {
    const best = steps([
      [0, 0.9],
      [0, 0.9],
      [1, 0.7],
      [2, 0.7],
    ]);
    expect(ctcGreedyDecode(best, 2, 2, charset, 0).text).to.equal('ab');
    expect(ctcGreedyDecode(best, 0, 2, charset, 0).text).to.equal('');
  });

  it('drops the spaces before the first character and after the last, from the text and the confidence', () => {
    const best = steps([
      [3, 0.2], // a space in the margin before the text
      [1, 0.8],
      [3, 0.9], // a space between words stays
      [2, 0.6],
      [0, 0.9],
      [3, 0.3], // and one after it
    ]);
    const d = ctcGreedyDecode(best, 0, 6, charset, 0);
    expect(d.text).to.equal('a b');
    expect(d.confidence).to.be.closeTo((0.8 + 0.9 + 0.6) / 3, 1e-6);
    expect(ctcGreedyDecode(steps([[3, 0.9]]), 0, 1, charset, 0)).to.deep.equal({ text: '', confidence: 0 });
  });

  it('gives empty text and zero confidence when only blanks win', () => {
    expect(ctcGreedyDecode(steps([[0, 0.9]]), 0, 1, charset, 0)).to.deep.equal({ text: '', confidence: 0 });
  });

  it('builds PaddleOCR charsets: blank first, the dictionary, then space', () => {
    expect(buildCharset(['x', 'y'], 0, true)).to.deep.equal(['', 'x', 'y', ' ']);
    expect(buildCharset(['x', 'y'], 0, false)).to.deep.equal(['', 'x', 'y']);
    expect(buildCharset(['x', 'y'], 2, false)).to.deep.equal(['x', 'y', '']);
  });
});
