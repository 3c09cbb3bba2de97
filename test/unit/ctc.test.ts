import { expect } from 'chai';
import { buildCharset, ctcGreedyDecode } from '../../src/engine/ctc.js';

/** Rows of class probabilities → one flat array, as the recognizer outputs them. */
function probs(rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat());
}

describe('CTC greedy decoding', () => {
  const charset = ['', 'a', 'b', ' '];

  it('collapses repeats and drops blanks', () => {
    const p = probs([
      [0.1, 0.8, 0.05, 0.05], // a
      [0.1, 0.7, 0.1, 0.1], // a (repeat)
      [0.9, 0.05, 0.03, 0.02], // blank
      [0.1, 0.6, 0.2, 0.1], // a again after a blank: a new character
      [0.1, 0.1, 0.7, 0.1], // b
    ]);
    const d = ctcGreedyDecode(p, 0, 5, 4, charset, 0);
    expect(d.text).to.equal('aab');
    // Confidence: mean of the emitted characters' maxima (0.8, 0.6, 0.7), repeats not counted.
    expect(d.confidence).to.be.closeTo((0.8 + 0.6 + 0.7) / 3, 1e-6);
  });

  it('reads a sequence at an offset (the n-th line of a batch)', () => {
    const first = [[0.9, 0.05, 0.03, 0.02]];
    const second = [
      [0.1, 0.1, 0.1, 0.7],
      [0.1, 0.1, 0.7, 0.1],
    ];
    const p = probs([...first, [0.9, 0.05, 0.03, 0.02], ...second]);
    expect(ctcGreedyDecode(p, 2 * 4, 2, 4, charset, 0).text).to.equal(' b');
  });

  it('gives empty text and zero confidence when only blanks win', () => {
    const d = ctcGreedyDecode(probs([[0.9, 0.1, 0, 0]]), 0, 1, 4, charset, 0);
    expect(d).to.deep.equal({ text: '', confidence: 0 });
  });

  it('builds PaddleOCR charsets: blank first, the dictionary, then space', () => {
    expect(buildCharset(['x', 'y'], 0, true)).to.deep.equal(['', 'x', 'y', ' ']);
    expect(buildCharset(['x', 'y'], 0, false)).to.deep.equal(['', 'x', 'y']);
    expect(buildCharset(['x', 'y'], 2, false)).to.deep.equal(['x', 'y', '']);
  });
});
